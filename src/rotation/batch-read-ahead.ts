import type { CandidateRow, SealedBatch } from './reseal-row';

/** Accounts read after `cursor` in `pass` and re-sealed, ready for their transaction. */
export interface PreparedBatch {
  cursor: number;
  pass: number;
  /** How many accounts were read; the job's cursor moves to the last one's id. */
  scanned: number;
  lastId: number;
  sealed: SealedBatch;
}

type Outcome = { ok: true; batch: PreparedBatch } | { ok: false; error: unknown };

interface Ahead {
  cursor: number;
  pass: number;
  /** Known once its rows are read: where the batch after it starts, or null after an empty read. */
  next?: number | null;
  outcome: Promise<Outcome>;
}

/** Batches in flight besides the one committing: one being sealed, the next one being read. */
const DEPTH = 2;

const NO_ROWS: SealedBatch = { ids: [], versions: [], accessTokens: '', failures: [] };

/**
 * Reads and re-seals the next batches while the current one commits: the read of a batch starts
 * as soon as the one before it is read, so neither the database nor the sealing waits on the
 * other. A batch read ahead is only used when the job is still where it was read from; after a
 * failed or refused commit everything ahead is dropped and read again, so the order and the
 * checks of each batch's transaction never change.
 */
export class BatchReadAhead {
  private queue: Ahead[] = [];
  private closed = false;
  private ended = false;

  constructor(
    private readonly read: (cursor: number) => Promise<CandidateRow[]>,
    private readonly seal: (rows: CandidateRow[]) => Promise<SealedBatch>,
  ) {}

  /** The batch after `cursor`: the one read ahead for that position, or a fresh read. */
  async take(cursor: number, pass: number): Promise<PreparedBatch> {
    if (this.queue[0]?.cursor !== cursor || this.queue[0]?.pass !== pass) {
      // Dropped batches' errors are not lost: the same rows are read again just below.
      await this.settleAll();
      this.queue.push(this.start(cursor, pass));
    }
    const head = this.queue[0];
    const outcome = await head.outcome;
    this.queue.shift();
    if (!outcome.ok) {
      await this.settleAll();
      throw outcome.error;
    }
    this.fill(head);
    return outcome.batch;
  }

  /** Starts reading the batch after `cursor` now, before anyone takes it. */
  prefetch(cursor: number, pass: number): void {
    if (this.queue.length === 0 && !this.closed) this.queue.push(this.start(cursor, pass));
  }

  /** A read found no rows: the last batches are in flight or taken. */
  get reachedEnd(): boolean {
    return this.ended;
  }

  /** Waits for the batches in flight and starts no more, so nothing outlives the job's run. */
  async close(): Promise<void> {
    this.closed = true;
    await this.settleAll();
  }

  private start(cursor: number, pass: number): Ahead {
    const ahead = { cursor, pass } as Ahead;
    ahead.outcome = this.prepare(ahead).then(
      (batch): Outcome => ({ ok: true, batch }),
      (error: unknown): Outcome => ({ ok: false, error }),
    );
    return ahead;
  }

  private async prepare(ahead: Ahead): Promise<PreparedBatch> {
    const rows = await this.read(ahead.cursor);
    ahead.next = rows.length === 0 ? null : rows[rows.length - 1].id;
    if (rows.length === 0) this.ended = true;
    this.fill();
    const sealed = rows.length === 0 ? NO_ROWS : await this.seal(rows);
    const { cursor, pass } = ahead;
    return { cursor, pass, scanned: rows.length, lastId: ahead.next ?? cursor, sealed };
  }

  /**
   * Starts reading after the last batch in flight (or `taken`, when none is) once its rows are
   * in, up to DEPTH batches.
   */
  private fill(taken?: Ahead): void {
    let last = this.queue.at(-1) ?? taken;
    while (!this.closed && last && this.queue.length < DEPTH && typeof last.next === 'number') {
      last = this.start(last.next, last.pass);
      this.queue.push(last);
    }
  }

  private async settleAll(): Promise<void> {
    const dropped = this.queue;
    this.queue = [];
    await Promise.all(dropped.map((ahead) => ahead.outcome));
  }
}
