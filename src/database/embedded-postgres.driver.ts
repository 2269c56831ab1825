import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { PGlite, type Results } from '@electric-sql/pglite';

/** The message of pg's pool when no connection was free in time, which callers recognise. */
export const POOL_TIMEOUT_MESSAGE = 'timeout exceeded when trying to connect';

type Callback = (error: Error | null, result?: unknown) => void;
type ConnectCallback = (error: Error | null, client?: EmbeddedClient, release?: () => void) => void;

interface QueryResult {
  rows: unknown[];
  rowCount: number;
  command?: string;
}

function toQueryResult(result: Results | undefined): QueryResult {
  if (!result) return { rows: [], rowCount: 0 };
  const { rows, command } = result as Results & { command?: string; rowCount?: number };
  const rowCount = (result as { rowCount?: number }).rowCount ?? result.affectedRows ?? rows.length;
  return { rows, rowCount, command };
}

/**
 * One PGlite database behind the `pg` surface TypeORM uses. PGlite has a single session, so a
 * client is handed to one query runner at a time: two transactions never interleave on it.
 */
class EmbeddedDatabase {
  private database?: Promise<PGlite>;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly dataDir: string) {}

  open(): Promise<PGlite> {
    if (!this.database) {
      if (!this.dataDir.startsWith('memory://')) mkdirSync(this.dataDir, { recursive: true });
      this.database = PGlite.create(this.dataDir);
    }
    return this.database;
  }

  /** Waits for exclusive use of the session; resolves with the function that gives it back. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const turn = new Promise<void>((resolve) => (release = resolve));
    const ready = this.queue.then(() => release);
    this.queue = this.queue.then(() => turn);
    return ready;
  }

  async close(): Promise<void> {
    if (!this.database) return;
    const database = await this.database;
    this.database = undefined;
    await database.close();
  }
}

class EmbeddedClient extends EventEmitter {
  constructor(private readonly database: EmbeddedDatabase) {
    super();
  }

  query(sql: string, parametersOrCallback?: unknown[] | Callback, callback?: Callback): Promise<QueryResult> {
    const parameters = Array.isArray(parametersOrCallback) ? parametersOrCallback : undefined;
    const done = typeof parametersOrCallback === 'function' ? parametersOrCallback : callback;
    const result = this.run(sql, parameters);
    if (done)
      result.then(
        (value) => done(null, value),
        (error: Error) => done(error),
      );
    return result;
  }

  private async run(sql: string, parameters?: unknown[]): Promise<QueryResult> {
    const database = await this.database.open();
    if (parameters && parameters.length > 0) return toQueryResult(await database.query(sql, parameters));
    const results = await database.exec(sql);
    return toQueryResult(results[results.length - 1]);
  }
}

/**
 * Builds the `pg`-compatible module TypeORM's postgres driver loads via its `driver` option.
 * A caller waits at most `acquireTimeoutMs` for the session, then fails as pg's pool does; its
 * turn, when it comes, is passed straight on.
 */
export function embeddedPostgresDriver(dataDir: string, acquireTimeoutMs: number) {
  const database = new EmbeddedDatabase(dataDir);
  class Pool extends EventEmitter {
    connect(callback: ConnectCallback): void {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        callback(new Error(POOL_TIMEOUT_MESSAGE));
      }, acquireTimeoutMs);
      database.acquire().then(
        async (release) => {
          clearTimeout(timer);
          if (timedOut) {
            release();
            return;
          }
          try {
            await database.open();
          } catch (error) {
            release();
            callback(error as Error);
            return;
          }
          callback(null, new EmbeddedClient(database), release);
        },
        (error: Error) => callback(error),
      );
    }

    end(callback: (error: Error | null) => void): void {
      database.close().then(
        () => callback(null),
        (error: Error) => callback(error),
      );
    }
  }
  return { Pool };
}
