import type { INestApplication, LoggerService } from '@nestjs/common';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Stops on SIGTERM or SIGINT: the listening socket closes at once, the requests in flight finish
 * (their connections are not kept alive), then the application's shutdown hooks run (workers,
 * audit trail, database). All of it within `timeoutMs`, after which the process exits with code 1
 * whatever is still running: a request stuck on the database or a provider cannot hold it.
 * A second signal while stopping is ignored; SIGKILL remains the operator's last resort.
 */
export function stopOnSignals(app: INestApplication, timeoutMs: number, logger: LoggerService): void {
  const server = app.getHttpServer() as Server;
  let inFlight = 0;
  let stopping = false;
  let drained: (() => void) | undefined;
  server.prependListener('request', (_request: IncomingMessage, response: ServerResponse) => {
    inFlight += 1;
    if (stopping) response.setHeader('Connection', 'close');
    response.on('close', () => {
      inFlight -= 1;
      if (inFlight === 0) drained?.();
    });
  });

  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const started = Date.now();
    const seconds = timeoutMs / 1000;
    const deadline = setTimeout(() => {
      logger.error(
        `not stopped within ${seconds} s (SHUTDOWN_TIMEOUT_SECONDS): exiting with work unfinished`,
      );
      process.exit(1);
    }, timeoutMs);
    logger.log(
      `stopping on ${signal}: no new connections; ${inFlight} requests in flight, at most ${seconds} s`,
    );
    server.close();
    // Sockets with no request in flight (idle keep-alive, headers still arriving) are dropped now.
    server.closeIdleConnections();
    if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
    await app.close();
    clearTimeout(deadline);
    logger.log(`stopped in ${Date.now() - started} ms`);
    process.exit(0);
  };
  for (const signal of SIGNALS) {
    process.on(signal, (received: NodeJS.Signals) => {
      stop(received).catch((error: unknown) => {
        const type = error instanceof Error ? error.constructor.name : typeof error;
        logger.error(`shutdown failed (${type})`);
        process.exit(1);
      });
    });
  }
}
