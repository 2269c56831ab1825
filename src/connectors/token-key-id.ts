/**
 * Values of `external_accounts.token_key_id` besides a real key id (16 hex characters),
 * so every row says, without decrypting, which key (if any) its tokens need.
 */
export const LEGACY_V1_KEY_ID = 'legacy-v1';
export const PLAINTEXT_KEY_ID = 'plaintext';
