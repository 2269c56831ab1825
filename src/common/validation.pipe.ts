import {
  ArgumentMetadata,
  BadRequestException,
  HttpException,
  ValidationError,
  ValidationPipe,
} from '@nestjs/common';

/** The one 400 of every validation: the fields at fault in `details`, never their values. */
export function requestInvalid(details: string[]): BadRequestException {
  return new BadRequestException({ message: 'Request validation failed', details });
}

// A property name is the caller's text: it is repeated only when it cannot be a pasted token.
const NAMEABLE_PROPERTY = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;

function nameOf(property: string): string {
  return NAMEABLE_PROPERTY.test(property) ? property : '<unnamed property>';
}

/** `field.path: rule` for every failed constraint; the rule texts never include the value. */
export function describeValidationErrors(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${nameOf(error.property)}` : nameOf(error.property);
    const own = Object.entries(error.constraints ?? {}).flatMap(([constraint, rule]) => {
      // class-validator's own text for this one quotes the property name, whatever it is.
      if (constraint === 'whitelistValidation') return [`${path}: is not allowed`];
      return rule.startsWith(`${path}.`) || rule.startsWith(`${path}:`)
        ? rule.split('; ')
        : [`${path}: ${rule}`];
    });
    return [...own, ...describeValidationErrors(error.children ?? [], path)];
  });
}

const PRIMITIVES: unknown[] = [String, Number, Boolean];

/**
 * Validates DTOs. Path and query primitives are left as sent: their own pipes parse them
 * strictly, and a loose `Number(' 01')` conversion before them would accept what they refuse.
 */
class DtoValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type !== 'body' && PRIMITIVES.includes(metadata.metatype)) return value;
    try {
      return await super.transform(value, metadata);
    } catch (error) {
      if (error instanceof HttpException) throw error;
      // A validator that throws on odd input (validator.js's isEmail on a lone surrogate) is
      // still answering about the input: a 400, not an unhandled 500.
      throw requestInvalid([`${metadata.data ?? metadata.type}: cannot be validated`]);
    }
  }
}

export function createValidationPipe(): ValidationPipe {
  return new DtoValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => requestInvalid(describeValidationErrors(errors)),
  });
}
