import { ENVELOPE_SEPARATOR, type ResealedColumns } from '../connectors/external-accounts.repository';
import type { RotationFailure } from './key-rotation-job.entity';
import type { ResealedBatch } from './reseal-row';
import { ResealFailedError } from './reseal-failed.error';

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
