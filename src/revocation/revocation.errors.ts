import { DomainError } from '../common/domain-error';

/** Another `incident:grants` run holds the provider's lease: one run per provider at a time. */
export class GrantIncidentRunningError extends DomainError {
  readonly code = 'INCIDENT_ALREADY_RUNNING';
  readonly kind = 'conflict';

  constructor(
    readonly provider: string,
    readonly retryAfterSeconds: number,
  ) {
    super(
      `Another incident:grants run for provider ${provider} holds its lease; ` +
        `if that process has stopped, run again once its lease has expired (${retryAfterSeconds}s at most)`,
    );
  }
}
