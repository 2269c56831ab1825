import type { Logger } from '@nestjs/common';
import type { EventEmitter2 } from '@nestjs/event-emitter';
import { errorCodeOf } from '../common/domain-error';
import { toAccountView, type AccountView } from './account-view';
import type { ExternalAccount } from './external-account.entity';

/** The events ConnectorsModule emits through @nestjs/event-emitter. None carries a token. */
export const ACCOUNT_EVENTS = {
  created: 'account.created',
  reconnected: 'account.reconnected',
  tokensUpdated: 'account.tokens.updated',
  tokensRefreshed: 'account.tokens.refreshed',
  needsReauth: 'account.needs_reauth',
  deleted: 'account.deleted',
} as const;

export type AccountEventName = (typeof ACCOUNT_EVENTS)[keyof typeof ACCOUNT_EVENTS];

/**
 * What a disconnect did at the provider: `revoked` (RFC 7009 answered 200), `not_supported` (no
 * revocation endpoint configured), `refused` (the provider answered 4xx, say
 * `unsupported_token_type`: nothing more to try), `skipped` (`revoke=false`: not asked),
 * `pending` (the provider did not answer: the account is `revoking` and the worker tries again).
 */
export const DISCONNECT_OUTCOMES = ['revoked', 'not_supported', 'refused', 'skipped', 'pending'] as const;
export type DisconnectOutcome = (typeof DISCONNECT_OUTCOMES)[number];

/**
 * What `account.deleted` says happened to the grant: a disconnect's outcome, never `pending` (the
 * row is deleted only once that ends), or `abandoned` (REVOCATION_MAX_HOURS passed without an answer).
 */
export type DeletedOutcome = Exclude<DisconnectOutcome, 'pending'> | 'abandoned';

/** The payload of every account event: ids, provider and the account's metadata as the API shows it. */
export interface AccountEvent {
  userId: number;
  accountId: number;
  provider: string;
  account: AccountView;
  /** `account.deleted` only: what happened to the grant at the provider. */
  revocation?: DeletedOutcome;
}

/** Builds the payload from the account row as stored after the change. */
export function accountEvent(account: ExternalAccount, extra: Partial<AccountEvent> = {}): AccountEvent {
  return {
    ...extra,
    userId: account.userId,
    accountId: account.id,
    provider: account.provider,
    account: toAccountView(account),
  };
}

/** A listener's failure is the listener's: it is logged by code and never fails the write that was made. */
export function emitAccountEvent(
  events: EventEmitter2,
  logger: Logger,
  name: string,
  account: ExternalAccount,
  extra: Partial<AccountEvent> = {},
): void {
  try {
    events.emit(name, accountEvent(account, extra));
  } catch (error) {
    logger.warn(`a listener of ${name} failed (${errorCodeOf(error)})`);
  }
}
