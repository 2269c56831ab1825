import { Body, Controller, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { setAuditSubject } from '../audit/admin-audit.middleware';
import { GrantIncidentService } from '../revocation/grant-incident.service';
import { GrantIncidentReport } from '../revocation/grant-incident.view';
import { AdminGuard } from './admin.guard';
import { GrantIncidentDto } from './grant-incident.dto';

/**
 * A request starts no account after this; the operator calls again to go on (the run resumes).
 * Below SHUTDOWN_TIMEOUT_SECONDS' default, so a stop waits for the request to end.
 */
export const GRANT_INCIDENT_REQUEST_SECONDS = 15;

@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(AdminGuard)
@Controller('admin/incidents')
export class GrantIncidentsController {
  constructor(private readonly incidents: GrantIncidentService) {}

  @Post('grants')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Grants believed leaked: revoke each at the provider, mark the account needs_reauth',
    description:
      `Works account by account for at most ${GRANT_INCIDENT_REQUEST_SECONDS} s, then answers the counts; ` +
      'complete: false means call again to go on. Accounts marked by an earlier call are skipped. ' +
      '409 INCIDENT_ALREADY_RUNNING while another run holds the provider.',
  })
  @ApiOkResponse({ type: GrantIncidentReport })
  run(@Body() body: GrantIncidentDto, @Req() request: Request): Promise<GrantIncidentReport> {
    setAuditSubject(request, auditSubjectOf(body));
    return this.incidents.run(body, { deadline: Date.now() + GRANT_INCIDENT_REQUEST_SECONDS * 1000 });
  }
}

/** `google_drive`, `google_drive user 7`, `google_drive account 42`: validated slugs and ids only. */
function auditSubjectOf(body: GrantIncidentDto): string {
  const parts = [body.provider];
  if (body.userId !== undefined) parts.push(`user ${body.userId}`);
  if (body.accountId !== undefined) parts.push(`account ${body.accountId}`);
  return parts.join(' ');
}
