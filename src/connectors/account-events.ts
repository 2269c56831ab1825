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

/** The payload of every account event: ids, provider and the account's metadata as the API shows it. */
export interface AccountEvent {
  userId: number;
  accountId: number;
  provider: string;
  account: AccountView;
}

/** Builds the payload from the account row as stored after the change. */
export function accountEvent(account: ExternalAccount): AccountEvent {
  return {
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
): void {
  try {
    events.emit(name, accountEvent(account));
  } catch (error) {
    logger.warn(`a listener of ${name} failed (${errorCodeOf(error)})`);
  }
}
