/** Segments every route of this service is made of: numeric ids and short lowercase words. */
const PLAIN_SEGMENT = /^(?:[0-9]{1,10}|[a-z][a-z0-9_.-]{0,15})$/;

/**
 * A request path fit for logs, audit rows and error messages: the query string is dropped (an
 * `?access_token=` is how some clients send OAuth tokens) and any segment that is not a plain id
 * or word is masked, so a token pasted into a URL is never written anywhere.
 */
export function safePath(url: string): string {
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  const masked = path
    .split('/')
    .map((segment) => (segment === '' || PLAIN_SEGMENT.test(segment) ? segment : ':masked'))
    .join('/');
  return queryAt === -1 ? masked : `${masked}?[redacted]`;
}
