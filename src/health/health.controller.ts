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
  @ApiOperation({ summary: 'Readiness: the database answers and, in registry mode, the keys are loaded' })
  ready() {
    const checks: HealthIndicatorFunction[] = [() => this.database.pingCheck('database', { timeout: 3000 })];
    if (this.keys.registryMode) checks.push(() => this.keyCheck());
    return this.health.check(checks);
  }

  private keyCheck() {
    const indicator = this.indicators.check('keys');
    // Ready once every key is loaded; a later KMS outage keeps the loaded keys serving.
    if (this.keys.state === 'ready') return indicator.up();
    return indicator.down({ code: this.keys.failureCode });
  }
}
