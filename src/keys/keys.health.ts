import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { KeyRegistryLoader } from './key-registry.loader';

/**
 * Readiness of the keys: in registry mode, up once the keys are loaded and a primary key is
 * usable; a later KMS outage keeps the loaded keys serving. Env mode has nothing to wait for.
 */
@Injectable()
export class KeysHealthIndicator {
  // Stateless: it only shapes results, so it is not injected and the keys module needs no Terminus.
  private readonly indicators = new HealthIndicatorService();

  constructor(private readonly loader: KeyRegistryLoader) {}

  /** Whether readiness checks the keys at all: registry mode only. */
  get applies(): boolean {
    return this.loader.registryMode;
  }

  isHealthy(key: string) {
    const indicator = this.indicators.check(key);
    const code = this.loader.notReadyCode;
    return code === undefined ? indicator.up() : indicator.down({ code });
  }
}
