import { registerDecorator, ValidationArguments, ValidationOptions } from 'class-validator';
import { tokenSetErrors } from '../token-set';

/** Validates a token set while keeping the provider's extra fields (which whitelisting would strip). */
export function IsTokenSet(options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isTokenSet',
      target: target.constructor,
      propertyName,
      options,
      validator: {
        validate: (value: unknown, args: ValidationArguments) =>
          tokenSetErrors(value, args.property).length === 0,
        defaultMessage: (args: ValidationArguments) => tokenSetErrors(args.value, args.property).join('; '),
      },
    });
}
