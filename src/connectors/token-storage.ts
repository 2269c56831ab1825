import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { connectorsConfig } from '../config/connectors.config';
import { EnvelopeError } from '../crypto/envelope.errors';
import { EnvelopeService } from '../crypto/envelope.service';
import { AccountTokensUnreadableError, PlaintextTokensRefusedError } from './external-account.errors';
import { refuseRefreshTokenOutsideEnvelope } from './refresh-token-column';
import { LEGACY_V1_KEY_ID, PLAINTEXT_KEY_ID } from './token-key-id';
import type { TokenSet } from './token-set';

/** The token columns of one row, as stored. */
export interface StoredTokens {
  accessToken: string | null;
  refreshToken: string | null;
  tokenKeyId: string;
}

/** The token columns of a row together with what the read path needs to rebuild a plaintext set. */
export interface StoredRow extends StoredTokens {
  id: number;
  scopes: string | null;
  tokenExpiresAt: Date | null;
}

/**
 * Turns token sets into token columns and back: a v2 envelope bound to the account id when a key
 * is configured, plaintext columns otherwise. A row that cannot be opened is an error for that
 * account, never a ciphertext or an empty value handed on as a token.
 */
@Injectable()
export class TokenStorage implements OnModuleInit {
  private readonly logger = new Logger(TokenStorage.name);

  constructor(
    private readonly envelopes: EnvelopeService,
    @Inject(connectorsConfig.KEY) private readonly config: ConfigType<typeof connectorsConfig>,
  ) {}

  onModuleInit(): void {
    if (!this.envelopes.encryptionEnabled) {
      this.logger.warn('WORKFLOWS_ARTIFACT_ENC_KEY is not set: OAuth tokens are stored unencrypted');
    }
  }

  seal(accountId: number, tokens: TokenSet): StoredTokens {
    if (this.envelopes.encryptionEnabled) {
      return {
        accessToken: this.envelopes.encryptJsonBlob(tokens, accountId),
        refreshToken: null,
        tokenKeyId: this.envelopes.primaryKeyId as string,
      };
    }
    return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token ?? null, tokenKeyId: PLAINTEXT_KEY_ID };
  }

  /**
   * The row's own columns must agree with its content: `token_key_id` names the envelope's key
   * (`legacy-v1`, `plaintext`), and a v2 row keeps its refresh token inside the envelope. A row
   * that disagrees was written outside this service; it is refused, not repaired or half-read.
   */
  open(row: StoredRow): TokenSet {
    try {
      const format = this.envelopes.inspect(row.accessToken);
      if (format.format === 'plaintext') return this.openPlaintext(row);
      if (row.tokenKeyId !== (format.format === 'v2' ? format.kid : LEGACY_V1_KEY_ID)) {
        throw new AccountTokensUnreadableError(row.id, 'KEY_ID_MISMATCH');
      }
      refuseRefreshTokenOutsideEnvelope(row.id, format.format, row.refreshToken);
      return this.envelopes.decryptJsonBlob<TokenSet>(row.accessToken as string, row.id);
    } catch (error) {
      if (error instanceof EnvelopeError) throw new AccountTokensUnreadableError(row.id, error.code);
      throw error;
    }
  }

  private openPlaintext(row: StoredRow): TokenSet {
    if (!row.accessToken) throw new AccountTokensUnreadableError(row.id, 'NO_TOKEN_STORED');
    if (this.config.requireEncryption) throw new PlaintextTokensRefusedError(row.id);
    if (row.tokenKeyId !== PLAINTEXT_KEY_ID) {
      throw new AccountTokensUnreadableError(row.id, 'KEY_ID_MISMATCH');
    }
    // Envelope text that is not valid JSON is a damaged envelope: handing it on would return ciphertext.
    if (row.accessToken.includes('"_enc"')) throw new AccountTokensUnreadableError(row.id, 'ENVELOPE_MALFORMED');
    const tokens: TokenSet = { access_token: row.accessToken, refresh_token: row.refreshToken };
    if (row.scopes) tokens.scope = row.scopes;
    if (row.tokenExpiresAt) tokens.expires_at = Math.floor(row.tokenExpiresAt.getTime() / 1000);
    return tokens;
  }
}
