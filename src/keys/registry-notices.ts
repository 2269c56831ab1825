import { Logger } from '@nestjs/common';
import { Client } from 'pg';
import { errorCodeOf } from '../common/domain-error';
import { REGISTRY_CHANNEL } from './key-registry.repository';

/**
 * LISTEN on the registry's channel with a connection of its own; reconnects after a failure.
 * The loader's periodic re-read covers whatever is missed while disconnected.
 */
export class RegistryNotices {
  private readonly logger = new Logger(RegistryNotices.name);
  private client: Client | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly onNotice: () => void,
  ) {}

  start(): void {
    if (this.stopped) return;
    const client = new Client({ connectionString: this.url });
    this.client = client;
    const reconnect = (error?: unknown) => {
      if (this.client !== client || this.stopped) return;
      this.client = undefined;
      if (error) this.logger.warn(`registry notices lost (${errorCodeOf(error)}), reconnecting`);
      client.removeAllListeners();
      client.on('error', () => undefined);
      void client.end().catch((endError: unknown) => this.closeFailed(endError));
      this.retry = setTimeout(() => this.start(), 1000);
      this.retry.unref();
    };
    client.on('notification', () => this.onNotice());
    client.on('error', reconnect);
    client.on('end', () => reconnect(new Error('ConnectionEnded')));
    client
      .connect()
      .then(() => client.query(`LISTEN ${REGISTRY_CHANNEL}`))
      // A change made while this connection was down is picked up now, not at the next re-read.
      .then(() => this.onNotice())
      .catch(reconnect);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch((error: unknown) => this.closeFailed(error));
    }
  }

  /** Closing a connection that already failed may fail again: worth a debug line, not a warning. */
  private closeFailed(error: unknown): void {
    this.logger.debug(`registry notice connection not closed cleanly (${errorCodeOf(error)})`);
  }
}
