import { isIP } from 'node:net';
import { registerDecorator } from 'class-validator';

/** The subnet names Express's `trust proxy` setting knows. */
const SUBNET_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);
const MAX_HOPS = 10;

export type TrustProxy = false | number | string[];

function isAddressOrSubnet(entry: string): boolean {
  if (SUBNET_NAMES.has(entry)) return true;
  const [address, prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * `TRUST_PROXY`: unset or `false` (the client address is the socket's); a number of proxy hops
 * in front of the service (1 to 10); or a comma-separated list of proxy addresses, subnets in
 * CIDR form, or `loopback`, `linklocal`, `uniquelocal`. `true` is refused: it would trust the
 * X-Forwarded-For header of any client, so anyone could choose their address.
 */
export function parseTrustProxy(value: string | undefined): TrustProxy | undefined {
  const text = value?.trim().toLowerCase();
  if (text === undefined || text === '' || text === 'false' || text === '0') return false;
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    return hops >= 1 && hops <= MAX_HOPS ? hops : undefined;
  }
  const entries = text.split(',').map((entry) => entry.trim());
  return entries.every(isAddressOrSubnet) ? entries : undefined;
}

export function IsTrustProxy(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isTrustProxy',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate: (value: unknown) => typeof value === 'string' && parseTrustProxy(value) !== undefined,
        defaultMessage: () =>
          `must be false, a number of proxy hops (1 to ${MAX_HOPS}), or a comma-separated list of proxy addresses, CIDR subnets, loopback, linklocal or uniquelocal`,
      },
    });
}
