import { Inject, Injectable, Logger, OnModuleInit, Optional } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { connectorsConfig } from '../config/configuration';
import { EnvelopeError } from '../crypto/envelope.errors';
import { EnvelopeService } from '../crypto/envelope.service';
import { AppMetrics } from '../metrics/app-metrics';
import { AccountTokensUnreadableError, PlaintextTokensRefusedError } from './external-account.errors';
import type { TokenColumns, TokenRow } from './external-accounts.repository';
import { refuseRefreshTokenOutsideEnvelope } from './token-columns';
import type { TokenSet } from './token-set';

/** The columns of a row that the read path looks at. */
export type StoredRow = Pick<
  TokenRow,
  'id' | 'userId' | 'accessToken' | 'refreshToken' | 'scopes' | 'tokenExpiresAt'
>;

function expiryOf(tokens: TokenSet): Date | null {
  return tokens.expires_at === undefined ? null : new Date(tokens.expires_at * 1000);
}

/**
 * Turns token sets into token columns and back: a v3 envelope bound to the user and the account
 * when a key is configured, plaintext columns otherwise. A row that cannot be opened is an error
 * for that account, never a ciphertext or an empty value handed on as a token.
 */
@Injectable()
export class TokenStorage implements OnModuleInit {
  private readonly logger = new Logger(TokenStorage.name);

  constructor(
    private readonly envelopes: EnvelopeService,
    @Inject(connectorsConfig.KEY) private readonly config: ConfigType<typeof connectorsConfig>,
    @Optional() private readonly metrics?: AppMetrics,
  ) {}

  onModuleInit(): void {
    if (!this.envelopes.encryptionEnabled) {
      this.logger.warn('WORKFLOWS_ARTIFACT_ENC_KEY is not set: OAuth tokens are stored unencrypted');
    }
  }

  seal(userId: number, accountId: number, tokens: TokenSet): TokenColumns {
    const scopes = tokens.scope ?? null;
    const tokenExpiresAt = expiryOf(tokens);
    if (this.envelopes.encryptionEnabled) {
      const accessToken = this.envelopes.encryptJsonBlob(tokens, { userId, accountId });
      this.metrics?.envelopeOperations.inc({ operation: 'seal' });
      return { accessToken, refreshToken: null, scopes, tokenExpiresAt };
    }
    return {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token ?? null,
      scopes,
      tokenExpiresAt,
    };
  }

  /** Reads a row by what its `access_token` holds; the key id column is derived from the same text. */
  open(row: StoredRow): TokenSet {
    try {
      const { format } = this.envelopes.inspect(row.accessToken);
      if (format === 'plaintext') return this.openPlaintext(row);
      refuseRefreshTokenOutsideEnvelope(row.id, format, row.refreshToken);
      const binding = { userId: row.userId, accountId: row.id };
      const tokens = this.envelopes.decryptJsonBlob<TokenSet>(row.accessToken as string, binding);
      this.metrics?.envelopeOperations.inc({ operation: 'open' });
      return tokens;
    } catch (error) {
      if (error instanceof EnvelopeError) {
        this.metrics?.envelopeFailures.inc({ operation: 'open', reason: error.code });
        throw new AccountTokensUnreadableError(row.id, error.code);
      }
      throw error;
    }
  }

  private openPlaintext(row: StoredRow): TokenSet {
    if (!row.accessToken) throw new AccountTokensUnreadableError(row.id, 'NO_TOKEN_STORED');
    if (this.config.requireEncryption) throw new PlaintextTokensRefusedError(row.id);
    const tokens: TokenSet = { access_token: row.accessToken, refresh_token: row.refreshToken };
    if (row.scopes) tokens.scope = row.scopes;
    if (row.tokenExpiresAt) tokens.expires_at = Math.floor(row.tokenExpiresAt.getTime() / 1000);
    return tokens;
  }
}
