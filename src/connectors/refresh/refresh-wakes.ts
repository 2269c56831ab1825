import type { DatabaseNotices } from '../../database/database-notices';
import { REFRESH_CHANNEL } from '../external-accounts.repository';

/**
 * One wait for news of an account: taken before the row is read, so a notice that lands between
 * the read and the wait is not missed. Holds no database connection.
 */
export interface WakeTicket {
  /** Resolves at the first notice since the ticket was taken, or after `ms`. */
  wait(ms: number): Promise<void>;
  close(): void;
}

class Ticket implements WakeTicket {
  private woken = false;
  private resolve: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly forget: (ticket: Ticket) => void) {}

  wake(): void {
    this.woken = true;
    this.settle();
  }

  wait(ms: number): Promise<void> {
    if (this.woken) return Promise.resolve();
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.timer = setTimeout(() => this.settle(), ms);
    });
  }

  close(): void {
    this.settle();
    this.forget(this);
  }

  private settle(): void {
    clearTimeout(this.timer);
    const resolve = this.resolve;
    this.resolve = undefined;
    resolve?.();
  }
}

/**
 * Wakes the callers of this process that wait on another instance's refresh of an account, when
 * that refresh ends: by the notice its last statement sends (REFRESH_CHANNEL, through the
 * process's one LISTEN connection), or by every ticket at once when notices may have been missed.
 * Listens from the first wait on; where notices cannot arrive (embedded database, turned off,
 * connection down) callers poll.
 */
export class RefreshWakes {
  private readonly waiting = new Map<number, Set<Ticket>>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly notices: DatabaseNotices,
    private readonly enabled: boolean,
  ) {}

  /** True while a notice will wake the waiters; otherwise they must poll. */
  get live(): boolean {
    return this.enabled && this.notices.isListening(REFRESH_CHANNEL);
  }

  ticket(accountId: number): WakeTicket {
    if (this.enabled && !this.unsubscribe && this.notices.available) {
      this.unsubscribe = this.notices.subscribe(REFRESH_CHANNEL, {
        notice: (payload) => this.wakeAccount(Number(payload)),
        gap: () => this.wakeAll(),
      });
    }
    const tickets = this.waiting.get(accountId) ?? new Set<Ticket>();
    this.waiting.set(accountId, tickets);
    const ticket = new Ticket((done) => {
      tickets.delete(done);
      if (tickets.size === 0 && this.waiting.get(accountId) === tickets) this.waiting.delete(accountId);
    });
    tickets.add(ticket);
    return ticket;
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.wakeAll();
  }

  private wakeAccount(accountId: number): void {
    for (const ticket of this.waiting.get(accountId) ?? []) ticket.wake();
  }

  private wakeAll(): void {
    for (const tickets of this.waiting.values()) for (const ticket of tickets) ticket.wake();
  }
}
