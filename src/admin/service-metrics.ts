import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { InjectDataSource } from '@nestjs/typeorm';
import { Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { metricsConfig } from '../config/configuration';
import { RevocationQueue } from '../connectors/revocation-queue';
import { AppMetrics } from '../metrics/app-metrics';
import type { KeyInventory } from '../key-lifecycle/key-inventory.view';
import { KeyUsageService } from '../key-lifecycle/key-usage.service';
import { ROTATION_STATUSES } from '../rotation/key-rotation-job.entity';
import { RotationService } from '../rotation/rotation.service';

interface PgPool {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

/**
 * The gauges read from the database: accounts per key id (from the key inventory, counted at
 * most once per METRICS_INVENTORY_SECONDS, however often Prometheus scrapes), the newest
 * rotation job, the accounts waiting for a revocation, and the connection pool.
 */
@Injectable()
export class ServiceMetrics implements OnModuleInit {
  private inventory: { value: KeyInventory; at: number } | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly metrics: AppMetrics,
    private readonly rotations: RotationService,
    private readonly keyUsage: KeyUsageService,
    private readonly revocations: RevocationQueue,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(metricsConfig.KEY) private readonly config: ConfigType<typeof metricsConfig>,
  ) {}

  onModuleInit(): void {
    const registers = [this.metrics.registry];
    const gauge = (
      name: string,
      help: string,
      labelNames: string[],
      collect: (g: Gauge) => Promise<void> | void,
    ) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          await collect(this);
        },
      });
    gauge(
      'connectors_accounts',
      'Accounts by the key id their envelope needs and its role',
      ['key_id', 'role'],
      async (g) => {
        const inventory = await this.currentInventory();
        g.reset();
        for (const key of inventory.keys) g.set({ key_id: key.keyId, role: key.role }, key.accounts);
        g.set({ key_id: 'legacy-v1', role: 'none' }, inventory.legacyV1Accounts);
        g.set({ key_id: 'plaintext', role: 'none' }, inventory.plaintextAccounts);
        g.set({ key_id: 'malformed', role: 'none' }, inventory.malformedAccounts);
      },
    );
    gauge(
      'connectors_accounts_v2',
      'Accounts whose envelope is still v2, by key id',
      ['key_id'],
      async (g) => {
        const inventory = await this.currentInventory();
        g.reset();
        for (const key of inventory.keys) g.set({ key_id: key.keyId }, key.v2Accounts);
      },
    );
    gauge(
      'connectors_accounts_to_rotate',
      'Accounts not yet a v3 envelope under the primary key',
      [],
      async (g) => {
        g.set((await this.currentInventory()).accountsToRotate);
      },
    );
    const job = () => this.rotations.listJobs(1).then((jobs) => jobs[0]);
    gauge(
      'connectors_rotation_job_status',
      'The newest rotation job: 1 for its status',
      ['status'],
      async (g) => {
        const latest = await job();
        for (const status of ROTATION_STATUSES) g.set({ status }, latest?.status === status ? 1 : 0);
      },
    );
    gauge(
      'connectors_rotation_job_accounts',
      'The newest rotation job: accounts by outcome so far',
      ['outcome'],
      async (g) => {
        const latest = await job();
        g.set({ outcome: 'scanned' }, latest?.scanned ?? 0);
        g.set({ outcome: 'rotated' }, latest?.rotated ?? 0);
        g.set({ outcome: 'skipped' }, latest?.skipped ?? 0);
        g.set({ outcome: 'failed' }, latest?.failed ?? 0);
      },
    );
    gauge(
      'connectors_rotation_job_rows_per_second',
      'The newest rotation job: accounts per second',
      [],
      async (g) => {
        g.set((await job())?.rowsPerSecond ?? 0);
      },
    );
    gauge(
      'connectors_accounts_revoking',
      'Disconnected accounts waiting for their provider to answer the revocation (status revoking)',
      [],
      async (g) => {
        g.set(await this.revocations.waiting());
      },
    );
    gauge('connectors_db_pool_connections', 'PostgreSQL connection pool', ['state'], (g) => {
      const pool = this.pool();
      if (!pool) return;
      g.set({ state: 'in_use' }, pool.totalCount - pool.idleCount);
      g.set({ state: 'idle' }, pool.idleCount);
      g.set({ state: 'waiting' }, pool.waitingCount);
    });
  }

  private pool(): PgPool | undefined {
    const driver = this.dataSource.driver;
    const pool =
      driver instanceof PostgresDriver ? (driver.master as Partial<PgPool> | undefined) : undefined;
    return typeof pool?.totalCount === 'number' ? (pool as PgPool) : undefined;
  }

  /** The inventory, counted again once it is older than METRICS_INVENTORY_SECONDS; one count at a time. */
  private async currentInventory(): Promise<KeyInventory> {
    const fresh = this.inventory && Date.now() - this.inventory.at < this.config.inventorySeconds * 1000;
    if (fresh) return (this.inventory as { value: KeyInventory }).value;
    this.refreshing ??= this.keyUsage
      .inventory()
      .then((value) => {
        this.inventory = { value, at: Date.now() };
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    await this.refreshing;
    return (this.inventory as { value: KeyInventory }).value;
  }
}
