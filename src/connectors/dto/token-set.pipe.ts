import { Injectable, PipeTransform } from '@nestjs/common';
import { requestInvalid } from '../../common/validation.pipe';
import { tokenSetErrors, type TokenSet } from '../token-set';

/** For routes whose whole body is a token set (extra provider fields allowed). */
@Injectable()
export class TokenSetPipe implements PipeTransform<unknown, TokenSet> {
  transform(value: unknown): TokenSet {
    const errors = tokenSetErrors(value, 'body');
    if (errors.length > 0) throw requestInvalid(errors);
    return value as TokenSet;
  }
}
