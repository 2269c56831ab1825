import { DomainError } from '../common/domain-error';
import { AccountTokensUnreadableError } from '../connectors/external-account.errors';
import type { StoredRow } from '../connectors/token-storage';
import type { TokenSet } from '../connectors/token-set';
import type { EnvelopeInfo } from '../crypto/envelope.codec';
import { splitV2 } from '../crypto/envelope-v2.layout';
import type { RotationFailure } from './key-rotation-job.entity';

/** A row the rotation may re-seal, with the version its compare-and-set write expects. */
export type CandidateRow = StoredRow & { version: number };

/** What an envelope row needs: a worker thread holds only this, over its own envelope service. */
export interface EnvelopeCrypto {
  inspect(stored: string | null): EnvelopeInfo;
  /** Opens an envelope (any configured key) and seals the same bytes with the primary key. */
  reseal(stored: string, accountId: number): string;
}

/**
 * The crypto one row needs, as plain functions over the envelope service and token storage, so
 * this file has no I/O and no Nest dependency and runs in a worker thread as well.
 */
export interface RowCrypto extends EnvelopeCrypto {
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

/** A thread's result: plaintext rows go back to the caller, which has the token storage rules. */
export interface EnvelopeBatch extends ResealedBatch {
  plaintext: CandidateRow[];
}

/** Re-seals every row it can; a row it cannot open becomes a failure with a reason code. */
export function resealRows(rows: CandidateRow[], crypto: RowCrypto): ResealedBatch {
  const { resealed, failures } = resealEach(rows, crypto, (row) =>
    crypto.seal(row.id, crypto.openPlaintext(row)),
  );
  return { resealed, failures };
}

/** Re-seals the envelope rows; plaintext rows are set aside, untouched, for `resealRows`. */
export function resealEnvelopes(rows: CandidateRow[], crypto: EnvelopeCrypto): EnvelopeBatch {
  const plaintext: CandidateRow[] = [];
  const batch = resealEach(rows, crypto, (row) => {
    plaintext.push(row);
    return undefined;
  });
  return { ...batch, plaintext };
}

/**
 * Envelopes keep their plaintext bytes (Python-style v1 JSON included); a plaintext row is
 * sealed by `sealPlaintext`, or left out when it returns undefined.
 */
function resealEach(
  rows: CandidateRow[],
  crypto: EnvelopeCrypto,
  sealPlaintext: (row: CandidateRow) => string | undefined,
): ResealedBatch {
  const batch: ResealedBatch = { resealed: [], failures: [] };
  for (const row of rows) {
    try {
      const accessToken =
        isV2Layout(row.accessToken) || crypto.inspect(row.accessToken).format !== 'plaintext'
          ? crypto.reseal(row.accessToken as string, row.id)
          : sealPlaintext(row);
      if (accessToken !== undefined) batch.resealed.push({ id: row.id, version: row.version, accessToken });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      batch.failures.push({ accountId: row.id, reason: reasonCode(error) });
    }
  }
  return batch;
}

const JSON_SAFE = /^[0-9A-Za-z+/=]*$/;

/**
 * This service's own v2 text with fields that need no JSON escaping is a JSON object whose
 * `_enc` is v2: `inspect` would say so, or refuse its key id exactly as `reseal` does. Skipping
 * its JSON.parse saves a fifth of the per-row cost.
 */
function isV2Layout(stored: string | null): boolean {
  const fields = stored === null ? undefined : splitV2(stored);
  return (
    fields !== undefined &&
    JSON_SAFE.test(fields.kid) &&
    JSON_SAFE.test(fields.nonce) &&
    JSON_SAFE.test(fields.ct) &&
    JSON_SAFE.test(fields.tag)
  );
}

function reasonCode(error: DomainError): string {
  return error instanceof AccountTokensUnreadableError ? error.reason : error.code;
}
