import { Injectable, PipeTransform } from '@nestjs/common';
import { requestInvalid } from '../common/validation.pipe';

/** Same slug rule as an account's provider. */
const PROVIDER = /^[a-z][a-z0-9_-]{1,63}$/;

@Injectable()
export class ProviderParamPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!PROVIDER.test(value))
      throw requestInvalid(['provider: must be a lowercase slug of 2 to 64 characters']);
    return value;
  }
}
