import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { EnvelopeService } from '../src/crypto/envelope.service';
import { KeyRing } from '../src/crypto/key-ring';
import { alternate, formatNumber, isQuick, median, printTable } from './bench-stats';

/** A typical token set (~300 bytes of JSON) and a 4 kB one (long id_token). */
function tokenSets() {
  const typical = {
    access_token: `ya29.${randomBytes(90).toString('base64url')}`,
    refresh_token: `1//${randomBytes(60).toString('base64url')}`,
    token_type: 'Bearer',
    expires_in: 3599,
    expires_at: 1795904000,
    scope: 'https://www.googleapis.com/auth/drive.readonly',
  };
  const large = { ...typical, id_token: randomBytes(2700).toString('base64url') };
  return { typical, large };
}

function bareSealOpen(key: Buffer, plaintext: Buffer): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ct), decipher.final()]);
}

function timeLoop(iterations: number, body: () => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += 1) body();
  return Number(process.hrtime.bigint() - start) / iterations;
}

/** Envelope seal+open per call against bare createCipheriv/createDecipheriv on the same bytes. */
export async function runEnvelopeBench(): Promise<string> {
  const keyBytes = randomBytes(32);
  const envelopes = new EnvelopeService(KeyRing.fromSettings({ primary: keyBytes.toString('base64') }));
  const iterations = isQuick() ? 2000 : 20000;
  const rounds = isQuick() ? 5 : 11;
  const rows: Record<string, string>[] = [];
  const ratios: string[] = [];
  const binding = { userId: 7, accountId: 42 };
  for (const [name, tokens] of Object.entries(tokenSets())) {
    const json = Buffer.from(JSON.stringify(tokens));
    const project = () =>
      timeLoop(iterations, () =>
        envelopes.decryptJsonBlob(envelopes.encryptJsonBlob(tokens, binding), binding),
      );
    const reference = () => timeLoop(iterations, () => bareSealOpen(keyBytes, json));
    project();
    reference();
    const result = await alternate(rounds, project, reference);
    const ratio = median(result.project) / median(result.reference);
    ratios.push(`${formatNumber(ratio)} at ${json.length} B`);
    rows.push({
      'token set': `${name} (${json.length} B)`,
      'envelope µs': formatNumber(median(result.project) / 1000),
      'bare AES-GCM µs': formatNumber(median(result.reference) / 1000),
      ratio: formatNumber(ratio),
    });
  }
  printTable(rows);
  const summary = `envelope/raw = ${ratios.join(', ')}`;
  console.log(summary);
  return summary;
}

if (require.main === module) void runEnvelopeBench();
