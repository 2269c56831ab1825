import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export const ENDPOINT_URL_RULE =
  'must be an https URL (http only for loopback: 127.0.0.0/8, ::1, localhost, or a name under .localhost that resolves to loopback alone), without credentials or fragment';

/** Every address a name resolves to, as the system resolver answers (hosts file, DNS). */
export type AddressLookup = (hostname: string) => Promise<string[]>;

/** The Nest token of the AddressLookup the provider clients use; the system resolver unless provided. */
export const ADDRESS_LOOKUP = 'ADDRESS_LOOKUP';

export const systemLookup: AddressLookup = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

function bare(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}

function isLoopbackAddress(address: string): boolean {
  if (isIP(address) === 4) return address.split('.')[0] === '127';
  return isIP(address) === 6 && (address === '::1' || /^::ffff:127\./i.test(address));
}

/** A name under .localhost: loopback only if it resolves there, which is checked when used. */
function isLocalhostSubdomain(hostname: string): boolean {
  return hostname.endsWith('.localhost') && isIP(bare(hostname)) === 0;
}

/**
 * The shape of a token, revocation, userinfo or metadata endpoint this service may send a client
 * secret and tokens to: https anywhere; plain http to a loopback address, `localhost`, or a name
 * under `.localhost`, which `endpointTarget` must then resolve to loopback alone.
 */
export function isEndpointUrl(value: unknown): boolean {
  if (typeof value !== 'string' || value.length > 2048) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Not a URL at all: the caller is told the rule, never the text.
    return false;
  }
  if (url.username || url.password || url.hash) return false;
  if (url.protocol === 'https:') return url.hostname.length > 0;
  if (url.protocol !== 'http:') return false;
  const host = bare(url.hostname);
  return host === 'localhost' || isLoopbackAddress(host) || isLocalhostSubdomain(url.hostname);
}

/**
 * Where a request to `value` may go, now: the URL itself, or for plain http to a name under
 * `.localhost`, the same URL on the loopback address the name resolves to (every address it
 * resolves to must be loopback, else it could leave the host). The request is sent to that
 * address, so a resolver that changes its answer cannot move it elsewhere. Undefined when the URL
 * breaks the rule or the name does not resolve to loopback alone.
 */
export async function endpointTarget(
  value: string,
  resolve: AddressLookup = systemLookup,
): Promise<string | undefined> {
  if (!isEndpointUrl(value)) return undefined;
  const url = new URL(value);
  if (url.protocol !== 'http:' || !isLocalhostSubdomain(url.hostname)) return url.href;
  let addresses: string[];
  try {
    addresses = await resolve(url.hostname);
  } catch {
    // A name that does not resolve is no loopback; the resolver's error is not needed.
    return undefined;
  }
  if (addresses.length === 0 || !addresses.every(isLoopbackAddress)) return undefined;
  const [first] = addresses;
  url.hostname = isIP(first) === 6 ? `[${first}]` : first;
  return url.href;
}
