import { isEmail, registerDecorator, ValidationArguments, ValidationOptions } from 'class-validator';
import { isStorableJson, isStorableText, STORABLE_TEXT_RULE } from '../storable-text';

/** Text (or every string and key of a JSON value) that PostgreSQL stores as sent. */
export function IsStorable(options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isStorable',
      target: target.constructor,
      propertyName,
      options,
      validator: {
        validate: (value: unknown) => isStorableJson(value),
        defaultMessage: (args: ValidationArguments) =>
          `${args.property} ${STORABLE_TEXT_RULE}, and be nested at most 32 levels deep`,
      },
    });
}

/** An email address; checked for storable text first, as validator.js throws on lone surrogates. */
export function IsEmailAddress(options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isEmailAddress',
      target: target.constructor,
      propertyName,
      options,
      validator: {
        validate: (value: unknown) => typeof value === 'string' && isStorableText(value) && isEmail(value),
        defaultMessage: (args: ValidationArguments) => `${args.property} must be an email address`,
      },
    });
}
