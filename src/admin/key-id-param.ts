import type { Request } from 'express';
import { setAuditSubject } from '../audit/admin-audit.middleware';
import { RegistryKeyNotFoundError } from '../keys/keys.errors';

/** A key id from the path, named in the request's audit row once valid: key ids are one-way. */
export function keyIdParam(text: string, request: Request): string {
  if (!/^[0-9a-f]{16}$/.test(text))
    throw new RegistryKeyNotFoundError(text.slice(0, 16).replace(/[^0-9a-f]/g, '?'));
  setAuditSubject(request, text);
  return text;
}
