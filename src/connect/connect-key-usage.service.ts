import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { inspectEnvelope } from '../crypto/envelope.codec';
import { ConnectSessionsRepository } from './connect-sessions.repository';

export interface VerifierKeyCount {
  keyId: string;
  sessions: number;
}

/**
 * The PKCE verifiers of running connect sessions are sealed values like any other: a key that
 * seals one is in use until the session ends. Sessions past their time are ended first, so an
 * abandoned flow holds a key for at most CONNECT_SESSION_TTL_SECONDS.
 */
@Injectable()
export class ConnectKeyUsageService {
  constructor(private readonly sessions: ConnectSessionsRepository) {}

  /** `manager`: inside a transaction, the count runs on its session (the embedded database has one). */
  async countByKeyId(manager?: EntityManager): Promise<VerifierKeyCount[]> {
    await this.sessions.expire(manager);
    const counts = new Map<string, number>();
    for (const row of await this.sessions.sealedVerifiers(manager)) {
      const keyId = keyIdOf(row.codeVerifier);
      counts.set(keyId, (counts.get(keyId) ?? 0) + 1);
    }
    return [...counts].map(([keyId, sessions]) => ({ keyId, sessions }));
  }

  /**
   * Ends the running sessions whose verifier is sealed under a key believed leaked, rather than
   * re-sealing a value that may be known: each ends `failed` with `connect_session_ended`, and
   * its user starts again. Returns how many were ended.
   */
  async endSessionsSealedUnder(keyId: string): Promise<number> {
    const rows = await this.sessions.sealedVerifiers();
    const sealed = rows.filter((row) => keyIdOf(row.codeVerifier) === keyId).map((row) => row.id);
    return this.sessions.endRunning(sealed, 'connect_session_ended');
  }
}

function keyIdOf(sealed: string): string {
  const info = inspectEnvelope(sealed);
  return info.format === 'v3' ? info.kid : info.format;
}
