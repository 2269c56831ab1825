import type { Response } from 'supertest';
import type { Leak, SecretRegistry } from './safety-secrets';

interface Recorded {
  step: string;
  text: string;
  allowed: string[];
}

/**
 * Every HTTP answer of a scenario (status line, headers, body), with the secrets it may hold:
 * a token read returns that account's own tokens and nothing else.
 */
export class ResponseLog {
  private readonly responses: Recorded[] = [];

  record<T extends Response>(step: string, response: T, allowed: string[] = []): T {
    const text = `${response.status}\n${JSON.stringify(response.headers)}\n${response.text ?? ''}`;
    this.responses.push({ step, text, allowed });
    return response;
  }

  get count(): number {
    return this.responses.length;
  }

  leaks(secrets: SecretRegistry): Leak[] {
    return this.responses.flatMap(({ step, text, allowed }) =>
      secrets.find(text, `HTTP response: ${step}`, allowed),
    );
  }
}
