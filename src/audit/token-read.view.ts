import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { TOKEN_READ_OUTCOMES, type TokenReadOutcome, type TokenReadRecord } from './token-read.entity';

export class TokenReadView {
  @ApiProperty() id: string;
  @ApiProperty() occurredAt: string;
  @ApiProperty({ description: "The caller's name (`connectors-api-token` for CONNECTORS_API_TOKEN)" })
  caller: string;
  @ApiPropertyOptional({ nullable: true }) userId: number | null;
  @ApiPropertyOptional({ nullable: true }) accountId: number | null;
  @ApiPropertyOptional({ nullable: true }) provider: string | null;
  @ApiProperty({ example: 'GET /users/:userId/accounts/:id/tokens' }) route: string;
  @ApiProperty({ enum: TOKEN_READ_OUTCOMES }) outcome: TokenReadOutcome;
  @ApiPropertyOptional({ nullable: true, description: 'Why it was refused, e.g. CALLER_SCOPE_MISSING' })
  code: string | null;
  @ApiPropertyOptional({ nullable: true }) requestId: string | null;
}

export class TokenReadPage {
  @ApiProperty({ type: [TokenReadView] }) reads: TokenReadView[];
  @ApiPropertyOptional({ nullable: true, description: 'Pass back as `cursor` for the next page' })
  nextCursor: string | null;
}

export function toTokenReadView(record: TokenReadRecord): TokenReadView {
  return {
    id: record.id,
    occurredAt: record.occurredAt.toISOString(),
    caller: record.caller,
    userId: record.userId,
    accountId: record.accountId,
    provider: record.provider,
    route: record.route,
    outcome: record.outcome,
    code: record.code,
    requestId: record.requestId,
  };
}
