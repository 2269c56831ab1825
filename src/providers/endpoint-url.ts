import { isIP } from 'node:net';

export const ENDPOINT_URL_RULE =
  'must be an https URL (http only for loopback: 127.0.0.0/8, ::1, localhost; not names under .localhost), without credentials or fragment';

function isLoopback(hostname: string): boolean {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  // Only the name itself: a name under .localhost may resolve anywhere a resolver sends it.
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.split('.')[0] === '127';
  return isIP(host) === 6 && host === '::1';
}

/** A token or revocation endpoint this service may send a client secret and refresh tokens to. */
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
  return url.protocol === 'http:' && isLoopback(url.hostname);
}
