import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  type HealthIndicatorFunction,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { KeyRegistryLoader } from '../keys/key-registry.loader';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly keys: KeyRegistryLoader,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Liveness: the process is up' })
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: the database answers and, in registry mode, a primary key is usable' })
  ready() {
    const checks: HealthIndicatorFunction[] = [() => this.database.pingCheck('database', { timeout: 3000 })];
    if (this.keys.registryMode) checks.push(() => this.keyCheck());
    return this.health.check(checks);
  }

  private keyCheck() {
    const indicator = this.indicators.check('keys');
    // Ready once the keys are loaded and a primary key is usable; a later KMS outage keeps the
    // loaded keys serving.
    const code = this.keys.notReadyCode;
    return code === undefined ? indicator.up() : indicator.down({ code });
  }
}
