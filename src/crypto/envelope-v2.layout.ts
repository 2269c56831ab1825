import { FORMAT_V2 } from './envelope.formats';

const HEAD = `{"_enc":"${FORMAT_V2}","kid":"`;
const NONCE_KEY = '","nonce":"';
const CT_KEY = '","ct":"';
const TAG_KEY = '","tag":"';
const END = '"}';
const KID_CHARS = 16;
const NONCE_CHARS = 16;
const TAG_CHARS = 24;
const NONCE_AT = HEAD.length + KID_CHARS + NONCE_KEY.length;
const CT_AT = NONCE_AT + NONCE_CHARS + CT_KEY.length;
const TAIL_CHARS = TAG_KEY.length + TAG_CHARS + END.length;

export interface V2TextFields {
  kid: string;
  nonce: string;
  ct: string;
  tag: string;
}

/** Base64 and hex never need JSON escaping, so the envelope is built as a string. */
export function formatV2(kid: string, nonce: Buffer, ct: Buffer, tag: Buffer): string {
  return (
    HEAD + kid +
    NONCE_KEY + nonce.toString('base64') +
    CT_KEY + ct.toString('base64') +
    TAG_KEY + tag.toString('base64') +
    END
  );
}

/**
 * Cuts the exact text formatV2 writes into its fields without JSON.parse; undefined for any
 * other layout. The caller still validates every field.
 */
export function splitV2(text: string): V2TextFields | undefined {
  const tailAt = text.length - TAIL_CHARS;
  const matches =
    tailAt >= CT_AT &&
    text.startsWith(HEAD) &&
    text.startsWith(NONCE_KEY, HEAD.length + KID_CHARS) &&
    text.startsWith(CT_KEY, NONCE_AT + NONCE_CHARS) &&
    text.startsWith(TAG_KEY, tailAt) &&
    text.endsWith(END);
  if (!matches) {
    return undefined;
  }
  return {
    kid: text.slice(HEAD.length, HEAD.length + KID_CHARS),
    nonce: text.slice(NONCE_AT, NONCE_AT + NONCE_CHARS),
    ct: text.slice(CT_AT, tailAt),
    tag: text.slice(tailAt + TAG_KEY.length, text.length - END.length),
  };
}
