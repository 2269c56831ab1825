import type { SealedBatch } from './sealed-batch';

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
  outcome: Promise<Outcome>;
}

/**
 * Reads and re-seals the next batch while the current one commits. A batch read ahead is only
 * used when the job is still where it was read from: after a failed or refused commit it is
 * dropped and read again, so the order and the checks of each batch's transaction never change.
 */
export class BatchReadAhead {
  private ahead?: Ahead;

  constructor(private readonly prepare: (cursor: number, pass: number) => Promise<PreparedBatch>) {}

  /** The batch after `cursor`: the one read ahead for that position, or a fresh read. */
  async take(cursor: number, pass: number): Promise<PreparedBatch> {
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead && ahead.cursor === cursor && ahead.pass === pass) {
      const outcome = await ahead.outcome;
      if (!outcome.ok) throw outcome.error;
      return outcome.batch;
    }
    // A dropped batch's error is not lost: the same rows are read again just below.
    await ahead?.outcome;
    return this.prepare(cursor, pass);
  }

  /** Starts on the batch after `cursor`; `take` hands it over, or throws what it failed with. */
  readAhead(cursor: number, pass: number): void {
    const outcome = this.prepare(cursor, pass).then(
      (batch): Outcome => ({ ok: true, batch }),
      (error: unknown): Outcome => ({ ok: false, error }),
    );
    this.ahead = { cursor, pass, outcome };
  }

  /** Waits for a batch still in flight, so no query or thread task outlives the job's run. */
  async drain(): Promise<void> {
    const ahead = this.ahead;
    this.ahead = undefined;
    await ahead?.outcome;
  }
}
