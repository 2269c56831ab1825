import { registerDecorator, ValidationOptions } from 'class-validator';

function isPostgresUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname.length > 0;
  } catch {
    return false;
  }
}

/** A `postgres://` or `postgresql://` URL with a host. The message never repeats the value. */
export function IsPostgresUrl(options?: ValidationOptions) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isPostgresUrl',
      target: target.constructor,
      propertyName,
      options: { message: 'must be a postgres:// or postgresql:// URL with a host', ...options },
      validator: { validate: isPostgresUrl },
    });
}
