import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * The service's Prometheus metrics, on a registry of its own (two applications in one process,
 * as in the tests, keep separate counts). No label ever carries a user id, an account id, a
 * token or any value taken from a request: routes are templates, failures are reason codes.
 */
export class AppMetrics {
  readonly registry = new Registry();

  readonly httpRequestDuration = new Histogram({
    name: 'connectors_http_request_duration_seconds',
    help: 'HTTP requests by method, route template and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly envelopeOperations = new Counter({
    name: 'connectors_envelope_operations_total',
    help: 'Token envelopes sealed and opened by the request path',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });

  readonly envelopeFailures = new Counter({
    name: 'connectors_envelope_failures_total',
    help: 'Token envelopes that could not be opened, by reason code',
    labelNames: ['operation', 'reason'] as const,
    registers: [this.registry],
  });

  readonly tokenRefreshes = new Counter({
    name: 'connectors_token_refreshes_total',
    help: 'Refreshes this instance sent to a provider, by configured provider and outcome (refreshed, superseded, needs_reauth, or an error code)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly providerMisconfigured = new Counter({
    name: 'connectors_provider_misconfigured_total',
    help: "Token requests a provider refused because of this service's client (invalid_client, unauthorized_client), by configured provider and OAuth error",
    labelNames: ['provider', 'error'] as const,
    registers: [this.registry],
  });

  readonly connectSessions = new Counter({
    name: 'connectors_connect_sessions_total',
    help: 'Connect sessions by provider and outcome: created, connected, reconnected, denied, failed, expired, or refused_<reason> on the browser routes',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly revocations = new Counter({
    name: 'connectors_revocations_total',
    help: 'Revocation requests (RFC 7009) this instance sent to a provider, by configured provider and outcome (revoked, refused, or an error code such as PROVIDER_UNAVAILABLE)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly tokenReads = new Counter({
    name: 'connectors_token_reads_total',
    help: 'Token reads through the service routes, by caller name and outcome (served, refreshed, refused)',
    labelNames: ['caller', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly auditDropped = new Counter({
    name: 'connectors_audit_dropped_total',
    help: 'Audit records dropped because too many waited for the database, by trail',
    labelNames: ['trail'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'connectors_' });
  }
}
