import { Body, Controller, Get, HttpCode, Param, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { setAuditSubject } from '../audit/admin-audit.middleware';
import { bearerTokenOf, fingerprintOf } from '../common/bearer-token';
import { KeyIncidentService } from '../key-lifecycle/key-incident.service';
import { KeyIncidentReport } from '../key-lifecycle/key-incident.view';
import { AdminGuard } from './admin.guard';
import { keyIdParam } from './key-id-param';
import { KeyIncidentDto } from './key-incident.dto';

@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(AdminGuard)
@Controller('admin/incidents')
export class KeyIncidentsController {
  constructor(private readonly incidents: KeyIncidentService) {}

  @Post('key')
  @HttpCode(202)
  @ApiOperation({
    summary: 'A key believed leaked: replace it, rotate everything off it, retire it',
    description:
      'Starts the incident, or continues it, on this instance in the background and answers at once ' +
      'with where it stands (202); follow it with GET /admin/incidents/key/{kid}. 200 when the key is ' +
      'already retired. Env mode: 409 INCIDENT_NEEDS_NEW_PRIMARY_KEY while the key is the primary key.',
  })
  @ApiAcceptedResponse({ type: KeyIncidentReport })
  @ApiOkResponse({ type: KeyIncidentReport, description: 'Already retired: nothing to do' })
  async start(
    @Body() body: KeyIncidentDto,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<KeyIncidentReport> {
    setAuditSubject(request, body.kid);
    const actor = `admin:${fingerprintOf(bearerTokenOf(request) as string)}`;
    const { report, accepted } = await this.incidents.start(body.kid, actor);
    if (!accepted) response.status(200);
    return report;
  }

  @Get('key/:kid')
  @ApiOperation({ summary: 'Where the incident of a key stands: counts, its rotation job, retired or not' })
  @ApiOkResponse({ type: KeyIncidentReport })
  get(@Param('kid') kid: string, @Req() request: Request): Promise<KeyIncidentReport> {
    return this.incidents.report(keyIdParam(kid, request));
  }
}
