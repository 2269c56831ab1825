import { createServer, type RequestListener, type Server } from 'node:http';

export interface ServerLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
}

/**
 * An HTTP server with deliberate limits: a client gets `headersTimeoutMs` to send its headers and
 * `requestTimeoutMs` for the whole request, an idle keep-alive socket closes after
 * `keepAliveTimeoutMs`, and at most `maxConnections` sockets are open at once.
 */
export function createBoundedServer(limits: ServerLimits, listener?: RequestListener): Server {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks the two timeouts on this interval (30 s by default), which would let a
      // slow client keep its socket that much longer.
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    },
    listener,
  );
  server.maxConnections = limits.maxConnections;
  return server;
}
