/** The deployment's rules for a connect session: where a browser may return, which accounts may connect. */

/** True when `returnTo` is an absolute http(s) URL, without credentials, on one of `origins` exactly. */
export function isAllowedReturnTo(returnTo: string, origins: readonly string[]): boolean {
  if (returnTo.length > 2048 || /[\s\\]/.test(returnTo)) return false;
  let url: URL;
  try {
    url = new URL(returnTo);
  } catch {
    // Relative (`/x`) and scheme-relative (`//evil.example`) forms have no origin of their own.
    return false;
  }
  if (url.username || url.password) return false;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return false;
  return origins.includes(url.origin);
}

/** `returnTo` with the outcome in its query; nothing the provider sent is carried over. */
export function returnUrl(returnTo: string, outcome: Record<string, string>): string {
  const url = new URL(returnTo);
  for (const [name, value] of Object.entries(outcome)) url.searchParams.set(name, value);
  return url.toString();
}

export interface UserinfoClaims {
  email: string | null;
  emailVerified: boolean;
  displayName: string | null;
}

const MAX_CLAIM_LENGTH = 320;

/** The OpenID Connect claims the account records; anything not a short string is dropped. */
export function claimsOf(userinfo: Record<string, unknown> | undefined): UserinfoClaims {
  const text = (value: unknown) =>
    typeof value === 'string' && value.length > 0 && value.length <= MAX_CLAIM_LENGTH && !value.includes('\0')
      ? value
      : null;
  return {
    email: text(userinfo?.email),
    emailVerified: userinfo?.email_verified === true,
    displayName: text(userinfo?.name),
  };
}

/** CONNECT_ALLOWED_ACCOUNT_DOMAINS: unset allows every account; set, a verified email in one of them. */
export function accountAllowed(claims: UserinfoClaims, domains: readonly string[] | undefined): boolean {
  if (domains === undefined) return true;
  if (!claims.email || !claims.emailVerified) return false;
  const at = claims.email.lastIndexOf('@');
  if (at < 1) return false;
  return domains.includes(claims.email.slice(at + 1).toLowerCase());
}
