/** What a caller may be allowed to do; every service route requires exactly one. */
export const CALLER_SCOPES = [
  'accounts:read',
  'accounts:write',
  'tokens:read',
  'tokens:refresh',
  'connect',
] as const;
export type CallerScope = (typeof CALLER_SCOPES)[number];

/** The scopes whose routes hand out tokens: every attempt on them is in the token-read trail. */
export const TOKEN_SCOPES: ReadonlySet<CallerScope> = new Set(['tokens:read', 'tokens:refresh']);

/** A caller's name, as a provider's: a lowercase slug. Names are configuration, not user data. */
export const CALLER_NAME = /^[a-z][a-z0-9_-]{1,63}$/;

/** The caller of `CONNECTORS_API_TOKEN`: every scope, every provider. No registered caller takes its name. */
export const BUILT_IN_CALLER_NAME = 'connectors-api-token';

/** Who is calling a service route, as the guard resolved it. */
export interface Caller {
  name: string;
  scopes: ReadonlySet<CallerScope>;
  /** Accounts of these providers only; undefined: every provider. */
  providers: readonly string[] | undefined;
}

export const BUILT_IN_CALLER: Caller = {
  name: BUILT_IN_CALLER_NAME,
  scopes: new Set(CALLER_SCOPES),
  providers: undefined,
};

export function allowsProvider(caller: Caller, provider: string): boolean {
  return caller.providers === undefined || caller.providers.includes(provider);
}
