import { DomainError } from '../common/domain-error';
import { AccountTokensUnreadableError } from '../connectors/external-account.errors';
import type { StoredRow } from '../connectors/token-storage';
import type { TokenSet } from '../connectors/token-set';
import type { EnvelopeInfo } from '../crypto/envelope.codec';
import type { RotationFailure } from './key-rotation-job.entity';

/**
 * The crypto one row needs, as plain functions over the envelope service and token storage, so
 * this file has no I/O and no Nest dependency and could run in a worker thread.
 */
export interface RowCrypto {
  inspect(stored: string | null): EnvelopeInfo;
  /** Opens an envelope (any configured key) and seals the same bytes with the primary key. */
  reseal(stored: string, accountId: number): string;
  /** The token set of a plaintext row; refuses when encryption is required. */
  openPlaintext(row: StoredRow): TokenSet;
  /** A v2 envelope of the token set under the primary key. */
  seal(accountId: number, tokens: TokenSet): string;
}

export interface ResealedRow {
  id: number;
  version: number;
  accessToken: string;
}

export interface ResealedBatch {
  resealed: ResealedRow[];
  failures: RotationFailure[];
}

/** Re-seals every row it can; a row it cannot open becomes a failure with a reason code. */
export function resealRows(rows: (StoredRow & { version: number })[], crypto: RowCrypto): ResealedBatch {
  const batch: ResealedBatch = { resealed: [], failures: [] };
  for (const row of rows) {
    try {
      batch.resealed.push({ id: row.id, version: row.version, accessToken: resealOne(row, crypto) });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      batch.failures.push({ accountId: row.id, reason: reasonCode(error) });
    }
  }
  return batch;
}

/** Envelopes keep their plaintext bytes (Python-style v1 JSON included); plaintext rows are sealed. */
function resealOne(row: StoredRow, crypto: RowCrypto): string {
  if (crypto.inspect(row.accessToken).format === 'plaintext') {
    return crypto.seal(row.id, crypto.openPlaintext(row));
  }
  return crypto.reseal(row.accessToken as string, row.id);
}

function reasonCode(error: DomainError): string {
  return error instanceof AccountTokensUnreadableError ? error.reason : error.code;
}
