import {
  Body,
  Controller,
  DefaultValuePipe,
  Get,
  HttpCode,
  Param,
  ParseIntPipe,
  Post,
  Query,
  Req,
  UseGuards,
} from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { bearerTokenOf, fingerprintOf } from '../common/bearer-token';
import { IdParamPipe } from '../common/id-param.pipe';
import { RotationJobView } from '../rotation/rotation-job.view';
import { RotationService } from '../rotation/rotation.service';
import { AdminGuard } from './admin.guard';
import { StartRotationDto } from './start-rotation.dto';

@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(AdminGuard)
@Controller('admin')
export class RotationsController {
  constructor(private readonly rotations: RotationService) {}

  @Post('rotations')
  @HttpCode(202)
  @ApiOperation({ summary: 'Start a rotation job to the primary key (409 when one is active)' })
  @ApiAcceptedResponse({ type: RotationJobView })
  start(@Body() body: StartRotationDto, @Req() request: Request) {
    const token = bearerTokenOf(request) as string;
    return this.rotations.startRotation({ ...body, requestedBy: `admin:${fingerprintOf(token)}` });
  }

  @Get('rotations')
  @ApiOperation({ summary: 'Recent rotation jobs, newest first' })
  @ApiOkResponse({ type: [RotationJobView] })
  list(@Query('limit', new DefaultValuePipe(20), ParseIntPipe) limit: number) {
    return this.rotations.listJobs(limit);
  }

  @Get('rotations/:id')
  @ApiOperation({ summary: 'Status and progress of one job' })
  @ApiOkResponse({ type: RotationJobView })
  get(@Param('id', IdParamPipe) id: number) {
    return this.rotations.getJob(id);
  }

  @Post('rotations/:id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel: stops at the next batch boundary; work done so far stays valid' })
  @ApiOkResponse({ type: RotationJobView })
  cancel(@Param('id', IdParamPipe) id: number) {
    return this.rotations.cancelJob(id);
  }
}
