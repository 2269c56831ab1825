import type { TokenReadRow } from './token-read.entity';

/**
 * The token-read records waiting for the database, with no database of its own. A slot can be
 * reserved before a read is served, so a served read always has room for its record; records
 * pushed without a reservation (refusals) are dropped and counted once the queue is full.
 */
export class TokenReadQueue {
  private waiting: TokenReadRow[] = [];
  private inFlight: TokenReadRow[] = [];
  private reserved = 0;
  private dropped = 0;

  constructor(private readonly maxPending: number) {}

  /** Records waiting or being written, and slots reserved for reads in progress. */
  get depth(): number {
    return this.waiting.length + this.inFlight.length + this.reserved;
  }

  get full(): boolean {
    return this.depth >= this.maxPending;
  }

  /** True when a record waits and no write has it. */
  get ready(): boolean {
    return this.waiting.length > 0 && this.inFlight.length === 0;
  }

  get empty(): boolean {
    return this.waiting.length === 0 && this.inFlight.length === 0;
  }

  /** How long the oldest record not yet written has waited, in milliseconds. */
  lagMs(now: number): number {
    const oldest = this.inFlight[0] ?? this.waiting[0];
    return oldest ? Math.max(0, now - oldest.occurredAt.getTime()) : 0;
  }

  /** Room for one record later; false when full. */
  reserve(): boolean {
    if (this.full) return false;
    this.reserved += 1;
    return true;
  }

  /** The record of a reserved slot: it always has room. */
  fill(row: TokenReadRow): void {
    this.reserved = Math.max(0, this.reserved - 1);
    this.waiting.push(row);
  }

  /** A record without a reservation; false (and counted) when the queue is full. */
  push(row: TokenReadRow): boolean {
    if (this.full) {
      this.dropped += 1;
      return false;
    }
    this.waiting.push(row);
    return true;
  }

  /** The next records to write, oldest first; they stay counted until written or put back. */
  take(max: number): TokenReadRow[] {
    this.inFlight = this.waiting.splice(0, max);
    return this.inFlight;
  }

  written(): void {
    this.inFlight = [];
  }

  /** The write failed: its records wait again, ahead of newer ones. */
  failed(): void {
    this.waiting.unshift(...this.inFlight);
    this.inFlight = [];
  }

  /** Records dropped since the last call. */
  takeDropped(): number {
    const count = this.dropped;
    this.dropped = 0;
    return count;
  }

  /** A count whose report could not be written: it joins the next report. */
  restoreDropped(count: number): void {
    this.dropped += count;
  }
}
