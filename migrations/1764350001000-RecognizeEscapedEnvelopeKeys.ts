import type { MigrationInterface, QueryRunner } from 'typeorm';
import { DERIVE_FUNCTION } from './1764300003000-DeriveTokenKeyId';

/** The test of damaged JSON in the first version: the literal `"_enc"` only. */
const LITERAL_TEST = `position('"_enc"' IN stored) > 0`;
/** `"_enc"` with any of its characters written as a JSON `\u` escape, as the envelope codec reads it. */
const ESCAPED_TEST = String.raw`stored ~ '"(_|\\u005[fF])(e|\\u0065)(n|\\u006[eE])(c|\\u0063)"'`;

function withDamagedJsonTest(test: string): string {
  if (!DERIVE_FUNCTION.includes(LITERAL_TEST)) throw new Error('unexpected key id function text');
  return DERIVE_FUNCTION.replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION').replace(LITERAL_TEST, test);
}

/** Rows the changed test can classify differently: text that starts with a brace, read as plaintext. */
const RECOMPUTE = String.raw`UPDATE external_accounts SET access_token = access_token
  WHERE token_key_id IN ('plaintext', 'malformed') AND access_token ~ '^\s*\{'`;

/**
 * Text that starts with a brace, is not valid JSON and names `_enc` with an escaped character
 * (`{"\u005fenc": ...`) was counted as plaintext, and served as a token. Such text is now
 * `malformed`, as the read path has it. The stored column of existing rows is computed again.
 */
export class RecognizeEscapedEnvelopeKeys1764350001000 implements MigrationInterface {
  name = 'RecognizeEscapedEnvelopeKeys1764350001000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(withDamagedJsonTest(ESCAPED_TEST));
    await queryRunner.query(RECOMPUTE);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(withDamagedJsonTest(LITERAL_TEST));
    await queryRunner.query(RECOMPUTE);
  }
}
