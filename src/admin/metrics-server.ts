import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { Server } from 'node:http';
import { createBoundedServer } from '../common/bounded-http-server';
import { metricsConfig } from '../config/configuration';
import { AppMetrics } from '../metrics/app-metrics';

/**
 * With METRICS_PORT set, `GET /metrics` is also served on that port without a token, for a
 * scraper on a private network; nothing else is. It listens on METRICS_HOST (loopback unless
 * set), with the API port's limits on slow clients and open sockets. Closed before the
 * database at shutdown.
 */
@Injectable()
export class MetricsServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(MetricsServer.name);
  private server: Server | undefined;

  constructor(
    private readonly metrics: AppMetrics,
    @Inject(metricsConfig.KEY) private readonly config: ConfigType<typeof metricsConfig>,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.port === undefined) return;
    const server = createBoundedServer(this.config.limits, (request, response) => {
      const path = (request.url ?? '').split('?')[0];
      if (request.method !== 'GET' || path !== '/metrics') {
        response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
        return;
      }
      this.metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'Content-Type': this.metrics.registry.contentType }).end(text),
        () => response.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics unavailable\n'),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => resolve());
    });
    this.server = server;
    this.logger.log(`metrics on ${this.config.host} port ${this.config.port}`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
