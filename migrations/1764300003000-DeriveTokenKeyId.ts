import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Makes `token_key_id` a stored column generated from `access_token`, so every writer (the
 * original service during a cutover, a restore, a support script) gets the value the envelope
 * says, and the key inventory counts what rows really hold.
 *
 * Values: the key id of a v3 envelope; `v2:<kid>` for a v2 envelope (readable, upgraded by
 * rotation); `legacy-v1`; `malformed` for text that claims to be an envelope but is none;
 * `plaintext` for anything else. Text in the exact layout this service writes is read by its
 * fixed offsets, as the envelope codec's fast path reads it; only other text is parsed as JSON.
 */
export const DERIVE_FUNCTION = `
CREATE FUNCTION external_accounts_token_key_id(stored text) RETURNS varchar(32)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
  doc jsonb;
BEGIN
  IF stored IS NULL THEN
    RETURN 'plaintext';
  END IF;
  -- The exact layout this service writes, as one LIKE (a regular expression costs ten times more).
  -- Its 20 quotes must be all there are, and no backslash: a field cannot hide more JSON members.
  IF stored LIKE '{"\\_enc":"aesgcm:v_","kid":"________________","nonce":"________________","ct":"%","tag":"________________________"}'
     AND length(stored) - length(replace(replace(stored, '"', ''), '\\', '')) = 20
     AND substr(stored, 18, 1) IN ('2', '3')
     AND translate(substr(stored, 28, 16), '0123456789abcdef', '') = '' THEN
    RETURN CASE substr(stored, 18, 1) WHEN '3' THEN '' ELSE 'v2:' END || substr(stored, 28, 16);
  END IF;
  IF stored !~ '^\\s*\\{' THEN
    RETURN 'plaintext';
  END IF;
  BEGIN
    doc := stored::jsonb;
  EXCEPTION WHEN others THEN
    RETURN CASE WHEN position('"_enc"' IN stored) > 0 THEN 'malformed' ELSE 'plaintext' END;
  END;
  IF jsonb_typeof(doc) <> 'object' OR NOT doc ? '_enc' THEN
    RETURN 'plaintext';
  END IF;
  IF doc->'_enc' = '"aesgcm:v1"' THEN
    RETURN 'legacy-v1';
  END IF;
  IF doc->'_enc' IN ('"aesgcm:v3"', '"aesgcm:v2"') AND jsonb_typeof(doc->'kid') = 'string'
     AND doc->>'kid' ~ '^[0-9a-f]{16}$' THEN
    RETURN CASE WHEN doc->>'_enc' = 'aesgcm:v3' THEN doc->>'kid' ELSE 'v2:' || (doc->>'kid') END;
  END IF;
  RETURN 'malformed';
END
$fn$`;

export class DeriveTokenKeyId1764300003000 implements MigrationInterface {
  name = 'DeriveTokenKeyId1764300003000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(DERIVE_FUNCTION);
    await queryRunner.query(`DROP INDEX IF EXISTS ix_external_accounts_token_key_id`);
    await queryRunner.query(`ALTER TABLE external_accounts DROP COLUMN token_key_id`);
    await queryRunner.query(
      `ALTER TABLE external_accounts ADD COLUMN token_key_id VARCHAR(32) NOT NULL
         GENERATED ALWAYS AS (external_accounts_token_key_id(access_token)) STORED`,
    );
    await queryRunner.query(
      `CREATE INDEX ix_external_accounts_token_key_id ON external_accounts (token_key_id, id)`,
    );
  }

  /** Back to a plain column holding the same values, as the earlier code maintained it. */
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX IF EXISTS ix_external_accounts_token_key_id`);
    await queryRunner.query(`ALTER TABLE external_accounts ALTER COLUMN token_key_id DROP EXPRESSION`);
    await queryRunner.query(
      `ALTER TABLE external_accounts ALTER COLUMN token_key_id SET DEFAULT 'plaintext'`,
    );
    await queryRunner.query(
      `CREATE INDEX ix_external_accounts_token_key_id ON external_accounts (token_key_id, id)`,
    );
    await queryRunner.query(`DROP FUNCTION external_accounts_token_key_id(text)`);
  }
}
