import type { KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { errorCodeOf } from '../common/domain-error';
import { EnvelopeService } from '../crypto/envelope.service';
import { KeyRing } from '../crypto/key-ring';
import {
  packBatch,
  resealEnvelopes,
  type EnvelopeCrypto,
  type EnvelopeRow,
  type SealedBatch,
} from './reseal-row';

/** What the pool hands a thread once, at start: the ring's keys as KeyObjects, primary first. */
export interface ResealThreadData {
  keys: KeyObject[];
}

/** A batch's rows as columns: a few arrays clone faster than as many objects as rows. */
export interface ResealTask {
  task: number;
  ids: number[];
  userIds: number[];
  versions: number[];
  accessTokens: (string | null)[];
  refreshTokens: (string | null)[];
}

/** The envelope rows re-sealed and packed, and the positions of the plaintext rows in the task. */
export interface ThreadBatch {
  sealed: SealedBatch;
  plaintext: number[];
}

export type ResealReply = { task: number; batch: ThreadBatch } | { task: number; errorCode: string };

/**
 * The same ring as the main thread's, rebuilt through the one parser start-up uses, so key ids
 * are derived the same way. The exported bytes are wiped once parsed.
 */
function ringOf({ keys }: ResealThreadData): KeyRing {
  const bytes = keys.map((key) => key.export());
  try {
    const [primary, ...previous] = bytes.map((raw) => raw.toString('base64'));
    return KeyRing.fromSettings({ primary, previous: previous.join(',') });
  } finally {
    for (const raw of bytes) raw.fill(0);
  }
}

function serve(port: NonNullable<typeof parentPort>, crypto: EnvelopeCrypto): void {
  port.on('message', ({ task, ids, userIds, versions, accessTokens, refreshTokens }: ResealTask) => {
    let reply: ResealReply;
    try {
      const rows: EnvelopeRow[] = ids.map((id, i) => ({
        id,
        userId: userIds[i],
        version: versions[i],
        accessToken: accessTokens[i],
        refreshToken: refreshTokens[i],
      }));
      const { plaintext, ...batch } = resealEnvelopes(rows, crypto);
      reply = { task, batch: { sealed: packBatch(batch), plaintext } };
    } catch (error) {
      // A code, never a message: a message could quote a token.
      reply = { task, errorCode: errorCodeOf(error) };
    }
    port.postMessage(reply);
  });
}

if (parentPort) {
  const envelopes = new EnvelopeService(ringOf(workerData as ResealThreadData));
  serve(parentPort, {
    inspect: (stored) => envelopes.inspect(stored),
    reseal: (stored, binding) => envelopes.reseal(stored, binding),
  });
}
