import { ArgumentMetadata, BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';

/** `field.path: rule` for every failed constraint; the rule texts never include the value. */
export function describeValidationErrors(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).flatMap((rule) =>
      rule.startsWith(`${path}.`) || rule.startsWith(`${path}:`) ? rule.split('; ') : [`${path}: ${rule}`],
    );
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
    return super.transform(value, metadata);
  }
}

export function createValidationPipe(): ValidationPipe {
  return new DtoValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) =>
      new BadRequestException({
        message: 'Request validation failed',
        details: describeValidationErrors(errors),
      }),
  });
}
