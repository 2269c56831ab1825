import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { Client } from 'pg';
import { databaseErrorCodeOf } from '../common/database-errors';
import { databaseConfig } from '../config/configuration';

/** What a subscriber to one channel hears. */
export interface NoticeListener {
  /** A `NOTIFY` on the channel, with its payload. */
  notice(payload: string): void;
  /**
   * Notices may have been missed: the connection opened (or reopened) and listens now, or it
   * closed and listens no more. Whatever waits on a notice should look again.
   */
  gap(): void;
}

const CHANNEL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const RECONNECT_MS = 1000;

/** Told apart from the pooled connections in `pg_stat_activity`. */
export const NOTICES_APPLICATION_NAME = 'connectors-backend-notices';

/**
 * PostgreSQL `LISTEN` for the whole process on one connection of its own, whatever the number of
 * channels and waiters, opened when the first channel is subscribed and reopened after a failure.
 * The embedded database has no other process to hear from: nothing is opened there, and
 * subscribers rely on their own periodic reads.
 */
@Injectable()
export class DatabaseNotices implements BeforeApplicationShutdown {
  private readonly logger = new Logger(DatabaseNotices.name);
  private readonly channels = new Map<string, Set<NoticeListener>>();
  /** Channels the open connection has run `LISTEN` on. */
  private readonly listening = new Set<string>();
  private client: Client | undefined;
  /** The connection is open and has listened on the channels subscribed when it opened. */
  private ready = false;
  private retry: NodeJS.Timeout | undefined;
  private failing = false;
  private stopped = false;

  constructor(@Inject(databaseConfig.KEY) private readonly settings: ConfigType<typeof databaseConfig>) {}

  /** False on the embedded database, and once the process is stopping. */
  get available(): boolean {
    return this.settings.url !== undefined && !this.stopped;
  }

  /** True while notices of `channel` reach this process. */
  isListening(channel: string): boolean {
    return this.listening.has(channel);
  }

  /** Starts listening on `channel` (opening the connection if needed); returns the unsubscribe. */
  subscribe(channel: string, listener: NoticeListener): () => void {
    if (!CHANNEL_NAME.test(channel)) throw new Error(`not a channel name: ${channel}`);
    if (!this.available) return () => undefined;
    const listeners = this.channels.get(channel) ?? new Set();
    this.channels.set(channel, listeners);
    listeners.add(listener);
    if (listeners.size === 1) this.listen(channel);
    return () => void listeners.delete(listener);
  }

  /** Subscribers poll from now on: the connection closes with the process. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    if (client) this.drop(client);
    if (client) await this.close(client);
  }

  private listen(channel: string): void {
    const client = this.client;
    if (!client) return this.connect();
    // Until the connection is up, `connect` listens on every channel subscribed by then.
    if (!this.ready) return;
    client.query(`LISTEN ${channel}`).then(
      () => this.opened([channel]),
      (error: unknown) => this.lost(client, error),
    );
  }

  private connect(): void {
    if (this.stopped || this.client) return;
    const client = new Client({
      connectionString: this.settings.url,
      application_name: NOTICES_APPLICATION_NAME,
      connectionTimeoutMillis: this.settings.poolTimeoutMs,
    });
    this.client = client;
    client.on('notification', ({ channel, payload }) => {
      for (const listener of this.channels.get(channel) ?? []) listener.notice(payload ?? '');
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('ConnectionEnded')));
    client
      .connect()
      .then(async () => {
        const channels = [...this.channels.keys()];
        await client.query(channels.map((channel) => `LISTEN ${channel};`).join('\n'));
        return channels;
      })
      .then((channels) => {
        if (this.client !== client) return;
        this.ready = true;
        if (this.failing) this.logger.log('database notices restored');
        this.failing = false;
        this.opened(channels);
        for (const channel of this.channels.keys()) if (!channels.includes(channel)) this.listen(channel);
      })
      .catch((error: unknown) => this.lost(client, error));
  }

  /** Listening now: whatever was sent before was missed, so every subscriber looks again. */
  private opened(channels: string[]): void {
    for (const channel of channels) this.listening.add(channel);
    for (const channel of channels) this.gapOn(channel);
  }

  private lost(client: Client, error: unknown): void {
    if (this.client !== client) return;
    this.drop(client);
    void this.close(client);
    if (this.stopped) return;
    if (!this.failing) {
      this.logger.warn(`database notices lost (${databaseErrorCodeOf(error)}), reconnecting`);
    }
    this.failing = true;
    this.retry = setTimeout(() => this.connect(), RECONNECT_MS);
    this.retry.unref();
  }

  /** Forgets the connection; its subscribers hear of the gap and look for themselves. */
  private drop(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.ready = false;
    const channels = [...this.listening];
    this.listening.clear();
    for (const channel of channels) this.gapOn(channel);
  }

  private gapOn(channel: string): void {
    for (const listener of this.channels.get(channel) ?? []) listener.gap();
  }

  /** Closing a connection that already failed may fail again: worth a debug line, not a warning. */
  private async close(client: Client): Promise<void> {
    client.removeAllListeners();
    client.on('error', () => undefined);
    await client.end().catch((error: unknown) => {
      this.logger.debug(`notice connection not closed cleanly (${databaseErrorCodeOf(error)})`);
    });
  }
}
