import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { EntityManager } from 'typeorm';
import { databaseErrorCodeOf, sqlStateOf } from '../common/database-errors';
import { callersConfig } from '../config/configuration';
import { BUILT_IN_CALLER_NAME, CALLER_NAME, type Caller, type CallerScope } from './caller';
import { digestOf, digestsEqual, newCallerSecret, prefixOf } from './caller-secrets';
import { toCallerView, type CallerView, type CallerWithSecretView } from './caller.view';
import {
  CallerDisabledError,
  CallerExistsError,
  CallerNameRefusedError,
  CallerNotFoundError,
  CallerRotationInProgressError,
} from './callers.errors';
import { ServiceClientsRepository, type CallerRow } from './service-clients.repository';

export interface NewCaller {
  name: string;
  scopes: CallerScope[];
  /** Undefined or null: every provider. */
  providers?: string[] | null;
}

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
const PREFIX_ATTEMPTS = 3;
const SWEEP_EVERY_MS = 60 * 60 * 1000;

/**
 * Registered callers: their lifecycle (add, rotate, finish a rotation, disable, list) and the
 * check of a presented secret. A secret is generated here (256 bits), returned once, and stored
 * as its SHA-256 digest; it is found by its prefix and compared in constant time. A verified
 * secret is trusted for CLIENT_CACHE_SECONDS; a change made on this instance applies at once.
 */
@Injectable()
export class CallersService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(CallersService.name);
  private readonly verified = new Map<string, Verified>();
  private readonly touchedAt = new Map<number, number>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly clients: ServiceClientsRepository,
    @Inject(callersConfig.KEY) private readonly config: ConfigType<typeof callersConfig>,
  ) {}

  /** A secret whose overlap ended is refused at once; its digest is erased at start and hourly. */
  onApplicationBootstrap(): void {
    this.sweepTimer = setInterval(() => (this.sweeping = this.sweepExpired()), SWEEP_EVERY_MS);
    this.sweepTimer.unref();
    this.sweeping = this.sweepExpired();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.sweeping;
  }

  async add(input: NewCaller, actor: string): Promise<CallerWithSecretView> {
    refuseName(input.name);
    const scopes = [...new Set(input.scopes)];
    const providers = input.providers ? [...new Set(input.providers)] : null;
    const { secret, row } = await this.clients.transaction(async (manager) => {
      if (await this.clients.findClient(input.name, manager)) throw new CallerExistsError(input.name);
      let id: number;
      try {
        id = await this.clients.insertClient(manager, {
          name: input.name,
          scopes,
          providers,
          createdBy: actor,
        });
      } catch (error) {
        if (sqlStateOf(error) === '23505') throw new CallerExistsError(input.name);
        throw error;
      }
      const made = await this.addSecret(manager, id);
      return { secret: made, row: (await this.clients.findClient(input.name, manager)) as CallerRow };
    });
    this.logger.log(`caller ${row.name} added by ${actor} (${scopes.join(', ')})`);
    return { ...(await this.viewOf(row)), secret };
  }

  /** A second secret; the first keeps working until the rotation is finished or its overlap ends. */
  async rotate(name: string, actor: string): Promise<CallerWithSecretView> {
    const { secret, row } = await this.clients.transaction(async (manager) => {
      const row = await this.lockedActive(name, manager);
      await this.clients.retireExpired(manager, row.id);
      if ((await this.clients.activeSecrets([row.id], manager)).length >= 2)
        throw new CallerRotationInProgressError(name);
      const made = await this.addSecret(manager, row.id);
      return { secret: made, row };
    });
    this.forget(row.id);
    this.logger.log(
      `caller ${name}: new secret added by ${actor}; the previous one works for ${this.config.secretOverlapHours} h or until the rotation is finished`,
    );
    return { ...(await this.viewOf(row)), secret };
  }

  /** Only the newest secret works from now on; a caller with one secret is left as it is. */
  async finishRotation(name: string, actor: string): Promise<CallerView> {
    const row = await this.clients.transaction(async (manager) => {
      const row = await this.lockedActive(name, manager);
      const secrets = await this.clients.activeSecrets([row.id], manager);
      const newest = secrets[secrets.length - 1];
      const retired = await this.clients.retireOthers(manager, row.id, newest?.id ?? null);
      if (retired > 0) this.logger.log(`caller ${name}: rotation finished by ${actor}`);
      return row;
    });
    this.forget(row.id);
    return this.viewOf(row);
  }

  /** Final: every secret is retired. Disabling a disabled caller changes nothing. */
  async disable(name: string, actor: string): Promise<CallerView> {
    const row = await this.clients.transaction(async (manager) => {
      const row = await this.clients.findClient(name, manager, true);
      if (!row) throw new CallerNotFoundError(name);
      if (row.disabledAt === null) {
        await this.clients.markDisabled(manager, row.id, actor);
        await this.clients.retireOthers(manager, row.id, null);
        this.logger.log(`caller ${name} disabled by ${actor}`);
      }
      return (await this.clients.findClient(name, manager)) as CallerRow;
    });
    this.forget(row.id);
    return this.viewOf(row);
  }

  async list(): Promise<CallerView[]> {
    const rows = await this.clients.listClients();
    const secrets = await this.clients.activeSecrets(rows.map((row) => row.id));
    return rows.map((row) => toCallerView(row, secrets));
  }

  async get(name: string): Promise<CallerView> {
    const row = await this.clients.findClient(name);
    if (!row) throw new CallerNotFoundError(name);
    return this.viewOf(row);
  }

  /** The registered caller a presented secret belongs to, or undefined: unknown, retired, expired or disabled. */
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

  /** A new secret that replaces the others after the overlap; a prefix already taken (1 in 4 billion) draws again. */
  private async sweepExpired(): Promise<void> {
    try {
      const retired = await this.clients.retireAllExpired();
      if (retired > 0) this.logger.log(`${retired} caller secrets past their overlap retired`);
    } catch (error) {
      this.logger.warn({ errorCode: databaseErrorCodeOf(error) }, 'expired caller secrets not retired');
    }
  }

  private async addSecret(manager: EntityManager, clientId: number): Promise<string> {
    for (let attempt = 1; attempt <= PREFIX_ATTEMPTS; attempt += 1) {
      const made = newCallerSecret();
      const id = await this.clients.insertSecret(manager, clientId, made.prefix, made.digest);
      if (id === undefined) continue;
      await this.clients.expireOthers(manager, clientId, id, this.config.secretOverlapHours);
      return made.secret;
    }
    throw new Error('no free secret prefix');
  }

  private async lockedActive(name: string, manager: EntityManager): Promise<CallerRow> {
    const row = await this.clients.findClient(name, manager, true);
    if (!row) throw new CallerNotFoundError(name);
    if (row.disabledAt !== null) throw new CallerDisabledError(name);
    return row;
  }

  private async viewOf(row: CallerRow): Promise<CallerView> {
    const fresh = (await this.clients.findClient(row.name)) ?? row;
    return toCallerView(fresh, await this.clients.activeSecrets([fresh.id]));
  }

  /** Changes on this instance apply at once; other instances read the caller again within the cache time. */
  private forget(clientId: number): void {
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

function refuseName(name: string): void {
  if (!CALLER_NAME.test(name))
    throw new CallerNameRefusedError('must be a lowercase slug of 2 to 64 characters');
  if (name === BUILT_IN_CALLER_NAME)
    throw new CallerNameRefusedError(`${BUILT_IN_CALLER_NAME} is the caller of CONNECTORS_API_TOKEN`);
}
