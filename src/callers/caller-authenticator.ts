import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { databaseErrorCodeOf } from '../common/database-errors';
import { callersConfig } from '../config/configuration';
import type { Caller } from './caller';
import { digestOf, digestsEqual, prefixOf } from './caller-secrets';
import { ServiceClientsRepository } from './service-clients.repository';

interface Verified {
  caller: Caller;
  clientId: number;
  secretId: number;
  /** Date.now() past which the secret is read again. */
  until: number;
}

/** A secret's last use is written at most this often by one instance. */
const TOUCH_EVERY_MS = 60_000;
/** Verified secrets kept at most; each is a secret some caller holds, so this is rarely reached. */
const MAX_CACHED = 10_000;

/**
 * The check of a presented caller secret: found by its prefix (one index lookup), its SHA-256
 * digest compared in constant time, refused when retired, past its overlap, or its caller
 * disabled. A verified secret is trusted for CLIENT_CACHE_SECONDS (never past its overlap);
 * CallersService makes its own changes apply at once with `forget`.
 */
@Injectable()
export class CallerAuthenticator {
  private readonly logger = new Logger(CallerAuthenticator.name);
  private readonly verified = new Map<string, Verified>();
  private readonly touchedAt = new Map<number, number>();

  constructor(
    private readonly clients: ServiceClientsRepository,
    @Inject(callersConfig.KEY) private readonly config: ConfigType<typeof callersConfig>,
  ) {}

  /** The registered caller a presented secret belongs to, or undefined. */
  async authenticate(presented: string): Promise<Caller | undefined> {
    const prefix = prefixOf(presented);
    if (prefix === undefined) return undefined;
    const digest = digestOf(presented);
    const now = Date.now();
    const known = this.verified.get(digest);
    if (known && known.until > now) {
      this.touch(known.secretId, now);
      return known.caller;
    }
    this.verified.delete(digest);
    const match = await this.clients.findSecret(prefix);
    if (!match?.digest || !digestsEqual(digest, match.digest)) return undefined;
    if (match.disabled || (match.expiresInMs !== null && match.expiresInMs <= 0)) return undefined;
    const caller: Caller = {
      name: match.name,
      scopes: new Set(match.scopes),
      providers: match.providers ?? undefined,
    };
    const trustMs = this.config.cacheSeconds * 1000;
    if (trustMs > 0) {
      if (this.verified.size >= MAX_CACHED) this.verified.clear();
      const until = now + Math.min(trustMs, match.expiresInMs ?? trustMs);
      this.verified.set(digest, { caller, clientId: match.clientId, secretId: match.secretId, until });
    }
    this.touch(match.secretId, now);
    return caller;
  }

  /** Stops trusting what was verified of the caller: its next request is checked again. */
  forget(clientId: number): void {
    for (const [digest, entry] of this.verified)
      if (entry.clientId === clientId) this.verified.delete(digest);
  }

  /** Off the request path, at most once a minute per secret and instance. */
  private touch(secretId: number, now: number): void {
    if (now - (this.touchedAt.get(secretId) ?? 0) < TOUCH_EVERY_MS) return;
    this.touchedAt.set(secretId, now);
    this.clients.touch(secretId).catch((error: unknown) => {
      this.logger.warn({ errorCode: databaseErrorCodeOf(error) }, 'last use of a caller secret not recorded');
    });
  }
}
