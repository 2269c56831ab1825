import { Global, Module } from '@nestjs/common';
import { AppMetrics } from './app-metrics';

/** The metrics registry, for every module that counts something. */
@Global()
@Module({
  providers: [{ provide: AppMetrics, useFactory: () => new AppMetrics() }],
  exports: [AppMetrics],
})
export class MetricsModule {}
