import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  maxRssBytes: number;
}

/** Runs `cli rotate` from the build in a child process; its peak RSS comes back through a file. */
function rotateWithCli(databaseUrl: string, primary: string, previous: string): Promise<CliRun> {
  const rssFile = join(mkdtempSync(join(tmpdir(), 'bench-rss-')), 'rss');
  const started = process.hrtime.bigint();
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
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return new Promise((done, fail) => {
    child.on('exit', (code) => {
      if (code !== 0) return fail(new Error(`cli rotate exited with ${code}`));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      done({ seconds, maxRssBytes: Number(readFileSync(rssFile, 'utf8')) });
    });
  });
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
 * table state; the naive loop on a sample, scaled to N.
 */
async function measure(count: number) {
  const database = await createBenchDatabase(`rot${count}`);
  const keys = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
  try {
    const seeding = await timed(() => seedSealedAccounts(database.dataSource, keys[0], count));
    const floors: number[] = [];
    const rotations: CliRun[] = [];
    const floor = () =>
      database.dataSource.query(`UPDATE external_accounts SET access_token = access_token || ''`);
    const vacuum = () => database.dataSource.query(`VACUUM external_accounts`);
    for (let round = 0; round < 2; round += 1) {
      await vacuum();
      floors.push(await timed(floor));
      await vacuum();
      const [from, to] = round % 2 === 0 ? keys : [keys[1], keys[0]];
      rotations.push(await rotateWithCli(database.url, to, from));
    }
    await vacuum();
    floors.push(await timed(floor));
    const naiveSample = Math.min(NAIVE_SAMPLE, count);
    const naive =
      (await naiveLoop(database.dataSource, keys[0], keys[1], naiveSample)) * (count / naiveSample);
    return {
      count,
      seeding,
      floor: median(floors),
      rotation: median(rotations.map((run) => run.seconds)),
      rss: Math.max(...rotations.map((run) => run.maxRssBytes)),
      naive,
    };
  } finally {
    await database.drop();
  }
}

/** Full rotation A→B against the database's own rewrite of every row, and the naive loop. */
export async function runRotationBench(): Promise<string> {
  ensureBuilt();
  // How the cost grows: time per account and peak memory at each size.
  const sizes = isQuick() ? [5000, 10000, 50000] : [10000, 100000, 1000000];
  const results = [];
  for (const size of sizes) results.push(await measure(size));
  printTable(
    results.map((r) => ({
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
    })),
  );
  const [, small, large] = results;
  const summary =
    `rotation/floor = ${formatNumber(large.rotation / large.floor)} at ${large.count}, ` +
    `naive/rotation = ${formatNumber(large.naive / large.rotation, 1)}, ` +
    `RSS ${formatNumber(large.rss / 2 ** 20, 0)} MB (${formatNumber(large.rss / small.rss)}× of ${small.count})`;
  console.log(summary);
  return summary;
}

if (require.main === module) void runRotationBench();
