import { createHash, randomBytes } from 'node:crypto';

/** 256 random bits, base64url (43 characters): links, states, browser bindings, PKCE verifiers. */
export const oneTimeValue = (): string => randomBytes(32).toString('base64url');

export const ONE_TIME_VALUE = /^[A-Za-z0-9_-]{43}$/;

/** How a one-time value is stored: its SHA-256, so a database read gives nothing to replay. */
export const sha256Hex = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');

/** RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))). */
export const s256Challenge = (verifier: string): string =>
  createHash('sha256').update(verifier, 'ascii').digest('base64url');
