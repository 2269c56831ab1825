import { ApiProperty } from '@nestjs/swagger';

/** An account a run could not end, and why: an error code, never the provider's text. */
export class GrantIncidentFailure {
  @ApiProperty() accountId: number;
  @ApiProperty({ example: 'PROVIDER_UNAVAILABLE:HTTP_503' }) code: string;
}

/**
 * What an `incident:grants` run did. `matched` accounts were in scope when it started,
 * `alreadyDone` of them marked by an earlier run; this run `revoked` some at the provider and
 * marked them, marked others `notRevocable` (no revocation endpoint), and `failed` on others
 * (refused, or no answer after its retries), which it left as they were for the next run.
 * `remaining` is what a next run would still do: failed, not reached, or added meanwhile.
 */
export class GrantIncidentReport {
  @ApiProperty() provider: string;
  @ApiProperty({ nullable: true, type: Number }) userId: number | null;
  @ApiProperty({ nullable: true, type: Number }) accountId: number | null;
  @ApiProperty({ description: 'Accounts in scope when the run started (revoking ones excluded)' })
  matched: number;
  @ApiProperty({ description: 'Marked revoked_by_operator by an earlier run: skipped' })
  alreadyDone: number;
  @ApiProperty({ description: 'Revoked at the provider by this run, then marked needs_reauth' })
  revoked: number;
  @ApiProperty({ description: 'Marked needs_reauth without a revocation: the provider has no endpoint' })
  notRevocable: number;
  @ApiProperty({ description: 'Refused or unanswered after retries: left as they were' })
  failed: number;
  @ApiProperty({ description: 'What a next run would still do' }) remaining: number;
  @ApiProperty({ description: 'True when nothing remains' }) complete: boolean;
  @ApiProperty({ type: [GrantIncidentFailure], description: 'The first 100 failures' })
  failures: GrantIncidentFailure[];
}
