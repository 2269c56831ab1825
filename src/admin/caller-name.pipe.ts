import { Injectable, PipeTransform } from '@nestjs/common';
import { CALLER_NAME } from '../callers/caller';
import { requestInvalid } from '../common/validation.pipe';

@Injectable()
export class CallerNamePipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!CALLER_NAME.test(value)) throw requestInvalid(['name: must be a caller name (a lowercase slug)']);
    return value;
  }
}
