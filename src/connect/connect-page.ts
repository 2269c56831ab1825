/**
 * The small page a browser gets when a session has no `returnTo`, or when nothing can be trusted
 * enough to redirect to. Every text is this service's own, escaped anyway; no script, no style,
 * no resource, so the policy below allows nothing at all.
 */
export const PAGE_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const MESSAGES: Record<string, string> = {
  connected: 'Your account is connected. You can close this window.',
  reconnected: 'Your account is connected again. You can close this window.',
  connect_link_preview: 'Open this link in your browser to connect your account.',
  connect_not_configured: 'Connecting accounts is not set up on this service.',
  connect_link_invalid: 'This link is not valid or has already been used. Start again from the application.',
  connect_session_expired: 'This connection attempt has expired. Start again from the application.',
  connect_session_ended:
    'This connection attempt was ended by the service. Start again from the application.',
  connect_state_invalid: 'This answer from the provider is not valid.',
  connect_state_unknown: 'This answer from the provider matches no connection attempt, or was already used.',
  connect_browser_mismatch: 'This connection attempt was started in another browser. Start again here.',
  connect_issuer_mismatch: 'The answer came from another provider than the one asked.',
  connect_issuer_missing: 'The provider’s answer did not say who sent it.',
  connect_account_domain_denied:
    'This account is not allowed here: its email domain is not one this service accepts.',
  connect_account_mismatch:
    'You signed in at the provider as another account than the one being reconnected. Start again and sign in as that account.',
  connect_provider_incomplete: 'This provider is not fully set up for connecting.',
  provider_access_denied: 'Access was not granted at the provider.',
};

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/** The outcome or error code is shown as it is: a code of this service, which passed CODE. */
const CODE = /^[a-z][a-z0-9_.-]{0,80}$/;

export function connectPage(code: string): string {
  const shown = CODE.test(code) ? code : 'connect_failed';
  const success = shown === 'connected' || shown === 'reconnected';
  const message = MESSAGES[shown] ?? 'The account could not be connected. Start again from the application.';
  const title = success ? 'Account connected' : 'Account not connected';
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">',
    `<title>${escapeHtml(title)}</title></head><body>`,
    `<h1>${escapeHtml(title)}</h1>`,
    `<p>${escapeHtml(message)}</p>`,
    success ? '' : `<p>Code: <code>${escapeHtml(shown)}</code></p>`,
    '</body></html>',
  ].join('\n');
}
