import { isIP } from 'node:net';
import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsOptional, registerDecorator, type ValidationOptions } from 'class-validator';
import { trimmed } from './setting.decorators';

const PROVIDER = /^[a-z][a-z0-9_-]{1,63}$/;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.split('.')[0] === '127';
  return host === '::1';
}

/** An https origin (http only on loopback), written as an origin: no path, query, fragment or credentials. */
export function originOf(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 512) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Not a URL: the rule is named, never the text.
    return undefined;
  }
  if (url.username || url.password || url.search || url.hash || url.pathname !== '/') return undefined;
  if (value.replace(/\/$/, '') !== url.origin) return undefined;
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname)))
    return url.origin;
  return undefined;
}

export const listOf = (value: string | undefined): string[] =>
  value === undefined
    ? []
    : value
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== '');

function setting(
  name: string,
  validate: (value: unknown) => boolean,
  message: string,
  options?: ValidationOptions,
): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name,
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message, ...options },
      validator: { validate },
    });
}

const ORIGIN_RULE = 'https (http only on loopback), scheme, host and optional port, no path';

/** An optional origin: `https://connectors.example`. */
export const PublicOriginSetting = (): PropertyDecorator =>
  applyDecorators(
    setting('isPublicOrigin', (value) => originOf(value) !== undefined, `must be an origin: ${ORIGIN_RULE}`),
    Transform(trimmed),
    IsOptional(),
  );

/** An optional comma-separated list of origins. */
export const OriginListSetting = (): PropertyDecorator =>
  applyDecorators(
    setting(
      'isOriginList',
      (value) => typeof value === 'string' && listOf(value).every((entry) => originOf(entry) !== undefined),
      `must be a comma-separated list of origins: ${ORIGIN_RULE}`,
    ),
    IsOptional(),
  );

/** An optional, non-empty comma-separated list of provider names or of domain names. */
export const SlugListSetting = (
  what: 'provider names (lowercase slugs)' | 'domain names',
): PropertyDecorator =>
  applyDecorators(
    setting(
      'isSlugList',
      (value) =>
        typeof value === 'string' &&
        listOf(value).length > 0 &&
        listOf(value).every((entry) => (what === 'domain names' ? DOMAIN : PROVIDER).test(entry)),
      `must be a comma-separated list of ${what}`,
    ),
    IsOptional(),
  );
