import { Injectable, PipeTransform, type ArgumentMetadata } from '@nestjs/common';
import { requestInvalid } from './validation.pipe';

const MAX_ID = 2 ** 31 - 1;

/** Path ids are positive 32-bit integers (the columns are INTEGER); anything else is a 400. */
@Injectable()
export class IdParamPipe implements PipeTransform<string, number> {
  transform(value: string, metadata: ArgumentMetadata): number {
    const id = /^[1-9][0-9]{0,9}$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(id) || id > MAX_ID) {
      throw requestInvalid([`${metadata.data ?? 'id'}: must be a positive integer below 2^31`]);
    }
    return id;
  }
}
