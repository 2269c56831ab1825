import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { ExternalAccount } from '../src/connectors/external-account.entity';
import { EnvelopeService } from '../src/crypto/envelope.service';
import { KeyRing } from '../src/crypto/key-ring';
import { formatNumber, isQuick, median, printTable, timedSeconds as timed } from './bench-stats';
import { createBenchDatabase } from './bench-database';
import { ensureBuilt, ROOT } from './bench-server';
import { seedSealedAccounts } from './seed-accounts';

const NAIVE_SAMPLE = 20000;

interface CliRun {
  seconds: number;
  /** The highest peak RSS of the processes of the run. */
  maxRssBytes: number;
  /** CPU time of the rotate processes, and of the whole machine (every core), in seconds. */
  cpu: { rotate: number; machine: number };
}

interface ProcessReport {
  maxRssBytes: number;
  cpuMicros: number;
}

/** CPU seconds the machine has spent busy (every core, all but idle and I/O wait) since boot. */
function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** `work` timed, with the machine's busy CPU seconds while it ran. */
async function busyWhile<T>(work: () => Promise<T>): Promise<{ result: T; machine: number }> {
  const before = machineBusySeconds();
  const result = await work();
  return { result, machine: machineBusySeconds() - before };
}

/** `cli rotate` from the build in a child process; its peak RSS comes back through a file. */
function startRotate(databaseUrl: string, primary: string, previous: string) {
  const reportDir = mkdtempSync(join(tmpdir(), 'bench-rss-'));
  const rssFile = join(reportDir, 'rss');
  const child = spawn(
    process.execPath,
    ['-r', './bench/max-rss.preload.js', 'dist/src/cli/main.js', 'rotate'],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        DATABASE_URL: databaseUrl,
        WORKFLOWS_ARTIFACT_ENC_KEY: primary,
        WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS: previous,
        BENCH_MAX_RSS_FILE: rssFile,
        // At the quick sizes, the default partition is a third of the largest job: the first
        // worker would lease them all before the second has started.
        ...(isQuick() ? { ROTATION_PARTITION_SIZE: '2000' } : {}),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<ProcessReport>((done, fail) =>
    child.on('exit', (code) => {
      const report = code === 0 ? (JSON.parse(readFileSync(rssFile, 'utf8')) as ProcessReport) : undefined;
      rmSync(reportDir, { recursive: true, force: true });
      if (!report) return fail(new Error(`cli rotate exited with ${code}`));
      done(report);
    }),
  );
  /** Resolves once the command has created its job (or joined one). */
  const started = new Promise<void>((done, fail) => {
    const look = () => (/(started|resuming) rotation job/.test(output) ? done() : undefined);
    child.stdout.on('data', look);
    exited.then(() => fail(new Error('cli rotate ended before it started a job')), fail);
  });
  return { exited, started };
}

/**
 * Runs `cli rotate` in `workers` processes: the first one creates the job, the others join it
 * once it exists and take partitions of their own. Timed from the first start to the last exit.
 */
async function rotateWithCli(
  databaseUrl: string,
  primary: string,
  previous: string,
  workers = 1,
): Promise<CliRun> {
  const started = process.hrtime.bigint();
  const { result: reports, machine } = await busyWhile(async () => {
    const first = startRotate(databaseUrl, primary, previous);
    await first.started;
    const others = Array.from({ length: workers - 1 }, () => startRotate(databaseUrl, primary, previous));
    return Promise.all([first, ...others].map((run) => run.exited));
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    seconds,
    maxRssBytes: Math.max(...reports.map((report) => report.maxRssBytes)),
    cpu: { rotate: reports.reduce((sum, report) => sum + report.cpuMicros, 0) / 1e6, machine },
  };
}

/** What most teams write: load, decrypt, encrypt, save, one account at a time. */
async function naiveLoop(dataSource: DataSource, from: string, to: string, count: number): Promise<number> {
  const ring = KeyRing.fromSettings({ primary: to, previous: from });
  const envelopes = new EnvelopeService(ring);
  const repository = dataSource.getRepository(ExternalAccount);
  return timed(async () => {
    for (let id = 1; id <= count; id += 1) {
      const account = await repository.findOne({
        where: { id },
        select: { id: true, userId: true, accessToken: true, version: true },
      });
      if (!account?.accessToken) continue;
      const binding = { userId: account.userId, accountId: id };
      account.accessToken = envelopes.encryptJsonBlob(
        envelopes.decryptJsonBlob(account.accessToken, binding),
        binding,
      );
      await repository.save(account);
    }
  });
}

/**
 * Floor and rotation in turns (A→B, then B→A), each after a VACUUM so both start from the same
 * table state; with `twoWorkers`, the rotation by two processes as well, in the same turns; the
 * naive loop on a sample, scaled to N.
 */
async function measure(count: number, twoWorkers: boolean) {
  const database = await createBenchDatabase(`rot${count}`);
  const keys = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
  try {
    const seeding = await timed(() => seedSealedAccounts(database.dataSource, keys[0], count));
    const floors: number[] = [];
    const rotations: CliRun[] = [];
    const pairs: CliRun[] = [];
    const floor = () =>
      database.dataSource.query(`UPDATE external_accounts SET access_token = access_token || ''`);
    const vacuum = () => database.dataSource.query(`VACUUM external_accounts`);
    let onFirstKey = true;
    const rotate = async (workers: number) => {
      await vacuum();
      const [from, to] = onFirstKey ? keys : [keys[1], keys[0]];
      onFirstKey = !onFirstKey;
      return rotateWithCli(database.url, to, from, workers);
    };
    const floorCpu: number[] = [];
    const timedFloor = async () => {
      const { result: seconds, machine } = await busyWhile(() => timed(floor));
      floors.push(seconds);
      floorCpu.push(machine);
    };
    for (let round = 0; round < 2; round += 1) {
      await vacuum();
      await timedFloor();
      rotations.push(await rotate(1));
      if (twoWorkers) pairs.push(await rotate(2));
    }
    await vacuum();
    await timedFloor();
    const naiveSample = Math.min(NAIVE_SAMPLE, count);
    const [from, to] = onFirstKey ? keys : [keys[1], keys[0]];
    const naive = (await naiveLoop(database.dataSource, from, to, naiveSample)) * (count / naiveSample);
    return {
      count,
      seeding,
      floor: median(floors),
      rotation: median(rotations.map((run) => run.seconds)),
      rss: Math.max(...rotations.map((run) => run.maxRssBytes)),
      pair: pairs.length > 0 ? median(pairs.map((run) => run.seconds)) : undefined,
      pairRss: pairs.length > 0 ? Math.max(...pairs.map((run) => run.maxRssBytes)) : undefined,
      naive,
      cpu: {
        floor: mean(floorCpu) / count,
        floorSeconds: mean(floors),
        rotation: cpuPerAccount(rotations, count),
        pair: pairs.length > 0 ? cpuPerAccount(pairs, count) : undefined,
      },
    };
  } finally {
    await database.drop();
  }
}

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** CPU seconds per account of the rotate processes and of the rest of the machine, and cores kept busy. */
function cpuPerAccount(runs: CliRun[], count: number) {
  const rotate = mean(runs.map((run) => run.cpu.rotate)) / count;
  const machine = mean(runs.map((run) => run.cpu.machine)) / count;
  const cores = mean(runs.map((run) => run.cpu.machine / run.seconds));
  return { rotate, rest: machine - rotate, cores };
}

const micros = (seconds: number) => `${formatNumber(seconds * 1e6, 1)} µs`;

/** A time in seconds, or in minutes past two of them. */
function duration(seconds: number): string {
  return seconds < 120 ? `${formatNumber(seconds, 1)} s` : `${formatNumber(seconds / 60, 1)} min`;
}

/**
 * Full rotation A→B against the database's own rewrite of every row, and the naive loop; at the
 * largest size also by two worker processes, and a projection to 100 000 000 accounts.
 */
export async function runRotationBench(): Promise<string> {
  ensureBuilt();
  // How the cost grows: time per account and peak memory at each size.
  const sizes = isQuick() ? [5000, 10000, 50000] : [10000, 100000, 1000000];
  const results = [];
  for (const size of sizes) results.push(await measure(size, size === sizes[sizes.length - 1]));
  const rows = results.map((r) => ({
    accounts: r.count.toLocaleString('en-US'),
    'seed s': formatNumber(r.seeding, 1),
    'floor s': formatNumber(r.floor),
    'rotation s': formatNumber(r.rotation),
    'rows/s': formatNumber(r.count / r.rotation, 0),
    'µs/account': formatNumber((r.rotation / r.count) * 1e6, 1),
    'rotation/floor': formatNumber(r.rotation / r.floor),
    'naive s (scaled)': formatNumber(r.naive, 0),
    'naive/rotation': formatNumber(r.naive / r.rotation, 1),
    'peak RSS MB': formatNumber(r.rss / 2 ** 20, 0),
  }));
  const [, small, large] = results;
  const pair = large.pair as number;
  rows.push({
    accounts: `${large.count.toLocaleString('en-US')}, 2 worker processes`,
    'seed s': '',
    'floor s': formatNumber(large.floor),
    'rotation s': formatNumber(pair),
    'rows/s': formatNumber(large.count / pair, 0),
    'µs/account': formatNumber((pair / large.count) * 1e6, 1),
    'rotation/floor': formatNumber(pair / large.floor),
    'naive s (scaled)': '',
    'naive/rotation': '',
    'peak RSS MB': formatNumber((large.pairRss as number) / 2 ** 20, 0),
  });
  printTable(rows);
  // Where the time goes: the CPU each side spends per account, and how many cores it kept busy.
  const cpu = large.cpu;
  const side = (run: { rotate: number; rest: number; cores: number }) =>
    `rotate ${micros(run.rotate)}, PostgreSQL and the rest ${micros(run.rest)}, ` +
    `${formatNumber(run.cores, 2)} of ${availableParallelism()} cores busy`;
  console.log(`CPU per account at ${large.count}: one worker: ${side(cpu.rotation)}`);
  if (cpu.pair) console.log(`  two workers: ${side(cpu.pair)}`);
  console.log(
    `  the floor: ${micros(cpu.floor)} on the machine, ${formatNumber((cpu.floor * large.count) / cpu.floorSeconds, 2)} cores busy`,
  );
  // Linear in the accounts, as measured from 100 000 to 1 000 000: the index depth grows by one.
  const scale = 100_000_000 / large.count;
  console.log(
    `projected to 100 000 000 accounts: one worker ${duration(large.rotation * scale)}, ` +
      `two workers ${duration(pair * scale)}, the floor (one UPDATE on one core) ${duration(large.floor * scale)}`,
  );
  const summary =
    `rotation/floor = ${formatNumber(large.rotation / large.floor)} at ${large.count} ` +
    `(2 workers ${formatNumber(pair / large.floor)}), ` +
    `naive/rotation = ${formatNumber(large.naive / large.rotation, 1)}, ` +
    `RSS ${formatNumber(large.rss / 2 ** 20, 0)} MB (${formatNumber(large.rss / small.rss)}× of ${small.count}, ` +
    `2 workers ${formatNumber((large.pairRss as number) / 2 ** 20, 0)} MB each at most)`;
  console.log(summary);
  return summary;
}

if (require.main === module) void runRotationBench();
