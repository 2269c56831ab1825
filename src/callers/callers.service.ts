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
import { BUILT_IN_CALLER_NAME, CALLER_NAME, type CallerScope } from './caller';
import { CallerAuthenticator } from './caller-authenticator';
import { newCallerSecret } from './caller-secrets';
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

const PREFIX_ATTEMPTS = 3;
const SWEEP_EVERY_MS = 60 * 60 * 1000;

/**
 * Registered callers' lifecycle: add, rotate, finish a rotation, disable, list. A secret is
 * generated here (256 bits), returned once, and stored as its SHA-256 digest; a change made on
 * this instance applies at once (CallerAuthenticator forgets what it trusted of the caller).
 */
@Injectable()
export class CallersService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(CallersService.name);
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly clients: ServiceClientsRepository,
    private readonly authenticator: CallerAuthenticator,
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
    this.authenticator.forget(row.id);
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
    this.authenticator.forget(row.id);
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
    this.authenticator.forget(row.id);
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
}

function refuseName(name: string): void {
  if (!CALLER_NAME.test(name))
    throw new CallerNameRefusedError('must be a lowercase slug of 2 to 64 characters');
  if (name === BUILT_IN_CALLER_NAME)
    throw new CallerNameRefusedError(`${BUILT_IN_CALLER_NAME} is the caller of CONNECTORS_API_TOKEN`);
}
