import { BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';

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

export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) =>
      new BadRequestException({ message: 'Request validation failed', details: describeValidationErrors(errors) }),
  });
}
