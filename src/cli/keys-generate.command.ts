import { generateKey } from '../crypto/key-ring';

type Output = Pick<NodeJS.WriteStream, 'write'>;

/** The only command that prints key material: the key it has just generated. Needs no database. */
export function keysGenerate(json: boolean, out: Output): number {
  const { key, kid } = generateKey();
  out.write(json ? `${JSON.stringify({ key, keyId: kid })}\n` : `key:    ${key}\nkey id: ${kid}\n`);
  return 0;
}
