import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { KeyRing } from '../crypto/key-ring';
import { ResealFailedError } from './rotation.errors';
import type { ResealReply, ResealTask, ResealThreadData, ThreadBatch } from './reseal-pool.thread';
import {
  mergeBatches,
  packBatch,
  resealRows,
  type CandidateRow,
  type RowCrypto,
  type SealedBatch,
} from './reseal-row';

interface Pending {
  resolve(batch: ThreadBatch): void;
  reject(error: Error): void;
}

/** Re-seals a batch of rows, in this thread or in a pool of worker threads. */
export interface RowSealer {
  reseal(rows: CandidateRow[]): Promise<SealedBatch>;
  close(): Promise<void>;
}

/** Seals in the calling thread: on a single core, where a thread would only add copies. */
export class InThreadSealer implements RowSealer {
  constructor(private readonly crypto: RowCrypto) {}

  async reseal(rows: CandidateRow[]): Promise<SealedBatch> {
    return packBatch(resealRows(rows, this.crypto));
  }

  async close(): Promise<void> {}
}

/**
 * A thread holds one batch at a time (a few hundred kilobytes), so a young generation of 16 MB
 * holds several batches' garbage: at 4 MB, scavenges took a quarter of a thread's busy time in a
 * profile of 100 000 accounts.
 */
const THREAD_LIMITS = { maxYoungGenerationSizeMb: 16 };

/**
 * From the build, the compiled thread file. From TypeScript (ts-node, jest) a thread has no
 * loader for .ts files, so a small script registers ts-node in it first. No flags are inherited:
 * a preload or a profiler meant for the main thread stays there.
 */
function newThread(workerData: ResealThreadData): Worker {
  if (__filename.endsWith('.js')) {
    return new Worker(join(__dirname, 'reseal-pool.thread.js'), {
      workerData,
      execArgv: [],
      resourceLimits: THREAD_LIMITS,
    });
  }
  const register = JSON.stringify(require.resolve('ts-node'));
  const entry = JSON.stringify(join(__dirname, 'reseal-pool.thread.ts'));
  const script =
    `require(${register}).register({ transpileOnly: true, projectSearchDir: ${JSON.stringify(__dirname)} });\n` +
    `require(${entry});`;
  return new Worker(script, { eval: true, workerData, execArgv: [] });
}

/**
 * Splits each batch over worker threads, so sealing runs on another core while this thread does
 * the database I/O. Threads get the keys once, as KeyObjects, and open envelopes only; plaintext
 * rows come back and are sealed here, under the token storage rules.
 */
export class ResealPool implements RowSealer {
  private readonly threads: Worker[];
  private readonly pending = new Map<number, Pending>();
  private nextTask = 0;
  private broken?: ResealFailedError;

  constructor(
    ring: KeyRing,
    size: number,
    private readonly crypto: RowCrypto,
  ) {
    const primary = ring.primary;
    if (!primary) throw new ResealFailedError('ENCRYPTION_KEY_MISSING');
    const previous = ring.previousKeyIds().flatMap((kid) => ring.keyFor(kid) ?? []);
    const workerData: ResealThreadData = { keys: [primary.key, ...previous] };
    this.threads = Array.from({ length: size }, () => this.spawn(workerData));
  }

  async reseal(rows: CandidateRow[]): Promise<SealedBatch> {
    const chunk = Math.ceil(rows.length / this.threads.length);
    const chunks = this.threads
      .map((thread, index) => ({ thread, rows: rows.slice(index * chunk, (index + 1) * chunk) }))
      .filter((part) => part.rows.length > 0);
    const parts = await Promise.all(chunks.map((part) => this.run(part.thread, part.rows)));
    const plaintextRows = parts.flatMap((part, index) => part.plaintext.map((at) => chunks[index].rows[at]));
    const plaintext = packBatch(resealRows(plaintextRows, this.crypto));
    return mergeBatches([...parts.map((part) => part.sealed), plaintext]);
  }

  async close(): Promise<void> {
    this.broken ??= new ResealFailedError('RESEAL_POOL_CLOSED');
    await Promise.all(this.threads.map((thread) => thread.terminate()));
  }

  private run(thread: Worker, rows: CandidateRow[]): Promise<ThreadBatch> {
    if (this.broken) return Promise.reject(this.broken);
    const task = this.nextTask++;
    return new Promise((resolve, reject) => {
      this.pending.set(task, { resolve, reject });
      const message: ResealTask = {
        task,
        ids: rows.map((row) => row.id),
        userIds: rows.map((row) => row.userId),
        versions: rows.map((row) => row.version),
        accessTokens: rows.map((row) => row.accessToken),
        refreshTokens: rows.map((row) => row.refreshToken),
      };
      thread.postMessage(message);
    });
  }

  private spawn(workerData: ResealThreadData): Worker {
    const thread = newThread(workerData);
    thread.on('message', (reply: ResealReply) => this.settle(reply));
    // Only the error's class is kept: its message could quote a token.
    thread.on('error', (error) => this.breakWith(new ResealFailedError(error.constructor.name)));
    thread.on('exit', () => this.breakWith(new ResealFailedError('RESEAL_THREAD_EXITED')));
    return thread;
  }

  private settle(reply: ResealReply): void {
    const pending = this.pending.get(reply.task);
    this.pending.delete(reply.task);
    if ('errorCode' in reply) pending?.reject(new ResealFailedError(reply.errorCode));
    else pending?.resolve(reply.batch);
  }

  /** A thread that died takes its tasks with it: every waiting batch fails, and so does the run. */
  private breakWith(error: ResealFailedError): void {
    this.broken ??= error;
    for (const pending of this.pending.values()) pending.reject(this.broken);
    this.pending.clear();
  }
}
