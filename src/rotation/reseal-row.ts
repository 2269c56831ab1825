import { DomainError } from '../common/domain-error';
import { AccountTokensUnreadableError } from '../connectors/external-account.errors';
import type { ResealedColumns, TokenRow } from '../connectors/external-accounts.repository';
import { ENVELOPE_SEPARATOR, refuseRefreshTokenOutsideEnvelope } from '../connectors/token-columns';
import type { StoredRow } from '../connectors/token-storage';
import type { TokenSet } from '../connectors/token-set';
import type { EnvelopeInfo } from '../crypto/envelope.codec';
import type { EnvelopeBinding } from '../crypto/envelope.service';
import type { RotationFailure } from './key-rotation-job.entity';
import { ResealFailedError } from './rotation.errors';

/** A row the rotation may re-seal, with the version its compare-and-set write expects. */
export type CandidateRow = TokenRow;

/** What an envelope row needs: a worker thread holds only this, over its own envelope service. */
export interface EnvelopeCrypto {
  inspect(stored: string | null): EnvelopeInfo;
  /** Opens an envelope (any configured key) and seals the same bytes with the primary key. */
  reseal(stored: string, binding: EnvelopeBinding): string;
}

/**
 * The crypto one row needs, as plain functions over the envelope service and token storage, so
 * this file has no I/O and no Nest dependency and runs in a worker thread as well.
 */
export interface RowCrypto extends EnvelopeCrypto {
  /** The token set of a plaintext row; refuses when encryption is required. */
  openPlaintext(row: StoredRow): TokenSet;
  /** A v3 envelope of the token set under the primary key. */
  seal(binding: EnvelopeBinding, tokens: TokenSet): string;
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

/** What a thread is sent of each row: an envelope needs no other column but the refresh token's. */
export type EnvelopeRow = Pick<CandidateRow, 'id' | 'userId' | 'version' | 'accessToken' | 'refreshToken'>;

/** A thread's result: the positions of plaintext rows, for the caller, which has the token storage rules. */
export interface EnvelopeBatch extends ResealedBatch {
  plaintext: number[];
}

/** Re-seals every row it can; a row it cannot open becomes a failure with a reason code. */
export function resealRows(rows: CandidateRow[], crypto: RowCrypto): ResealedBatch {
  const { resealed, failures } = resealEach(rows, crypto, (index) =>
    crypto.seal(bindingOf(rows[index]), crypto.openPlaintext(rows[index])),
  );
  return { resealed, failures };
}

/** Re-seals the envelope rows; plaintext rows are left for `resealRows`, by position. */
export function resealEnvelopes(rows: EnvelopeRow[], crypto: EnvelopeCrypto): EnvelopeBatch {
  const plaintext: number[] = [];
  const batch = resealEach(rows, crypto, (index) => {
    plaintext.push(index);
    return undefined;
  });
  return { ...batch, plaintext };
}

/** A plaintext row's new envelope, or undefined to leave the row out. */
type PlaintextSealer = (index: number) => string | undefined;

function resealEach(
  rows: EnvelopeRow[],
  crypto: EnvelopeCrypto,
  sealPlaintext: PlaintextSealer,
): ResealedBatch {
  const batch: ResealedBatch = { resealed: [], failures: [] };
  rows.forEach((row, index) => {
    try {
      const accessToken = resealOne(row, index, crypto, sealPlaintext);
      if (accessToken !== undefined) batch.resealed.push({ id: row.id, version: row.version, accessToken });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      batch.failures.push({ accountId: row.id, reason: reasonCode(error) });
    }
  });
  return batch;
}

/**
 * Envelopes keep their plaintext bytes (Python-style v1 JSON included) and become v3, bound to
 * the row's user and account. A row with a refresh token in its own column beside a keyed
 * envelope is refused, as reading it is.
 */
function resealOne(row: EnvelopeRow, index: number, crypto: EnvelopeCrypto, sealPlaintext: PlaintextSealer) {
  const { format } = crypto.inspect(row.accessToken);
  if (format === 'plaintext') return sealPlaintext(index);
  refuseRefreshTokenOutsideEnvelope(row.id, format, row.refreshToken);
  return crypto.reseal(row.accessToken as string, bindingOf(row));
}

function bindingOf(row: EnvelopeRow): EnvelopeBinding {
  return { userId: row.userId, accountId: row.id };
}

function reasonCode(error: DomainError): string {
  return error instanceof AccountTokensUnreadableError ? error.reason : error.code;
}

/** A re-sealed batch in the form its write takes, which crosses from a thread as a few values. */
export interface SealedBatch extends ResealedColumns {
  failures: RotationFailure[];
}

export function packBatch(batch: ResealedBatch): SealedBatch {
  const ids: number[] = [];
  const versions: number[] = [];
  const tokens: string[] = [];
  for (const row of batch.resealed) {
    // Were one ever there, the batch would split into other rows: refuse it rather than write it.
    if (row.accessToken.includes(ENVELOPE_SEPARATOR))
      throw new ResealFailedError('ENVELOPE_LAYOUT_UNEXPECTED');
    ids.push(row.id);
    versions.push(row.version);
    tokens.push(row.accessToken);
  }
  return { ids, versions, accessTokens: tokens.join(ENVELOPE_SEPARATOR), failures: batch.failures };
}

/** The parts of one batch, in order; failures sorted by account, as one thread would list them. */
export function mergeBatches(parts: SealedBatch[]): SealedBatch {
  const filled = parts.filter((part) => part.ids.length > 0);
  return {
    ids: filled.flatMap((part) => part.ids),
    versions: filled.flatMap((part) => part.versions),
    accessTokens: filled.map((part) => part.accessTokens).join(ENVELOPE_SEPARATOR),
    failures: parts.flatMap((part) => part.failures).sort((a, b) => a.accountId - b.accountId),
  };
}
