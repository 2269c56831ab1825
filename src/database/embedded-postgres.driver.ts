import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { PGlite, type Results } from '@electric-sql/pglite';
import { Logger } from '@nestjs/common';
import { lockDataDir } from './data-dir-lock';
import { restrictDataDir } from './data-dir-permissions';

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
  private unlock?: () => void;

  constructor(
    private readonly dataDir: string,
    private readonly lock?: { dataDir: string; file: string },
  ) {}

  open(): Promise<PGlite> {
    if (!this.database) {
      this.database = this.create();
      this.database.catch(() => (this.database = undefined));
    }
    return this.database;
  }

  private async create(): Promise<PGlite> {
    if (this.dataDir.startsWith('memory://')) return PGlite.create(this.dataDir);
    // Before anything touches the files: a second process on them would corrupt the database.
    if (this.lock) this.unlock = lockDataDir(this.lock.dataDir, this.lock.file);
    try {
      const changed = this.lock ? restrictDataDir(this.lock.dataDir) : 0;
      if (changed > 0) {
        new Logger('Database').warn(
          `DATA_DIR ${this.lock?.dataDir} had ${changed} files or folders open to other users: ` +
            'restricted to this user (folders 0700, files 0600)',
        );
      }
      mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
      const database = await PGlite.create(this.dataDir);
      // A new database's files come out of PGlite's bundled image with their own modes.
      if (this.lock) restrictDataDir(this.lock.dataDir);
      return database;
    } catch (error) {
      this.release();
      throw error;
    }
  }

  private release(): void {
    this.unlock?.();
    this.unlock = undefined;
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
    try {
      await database.close();
    } finally {
      this.release();
    }
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
export function embeddedPostgresDriver(
  dataDir: string,
  acquireTimeoutMs: number,
  lock?: { dataDir: string; file: string },
) {
  const database = new EmbeddedDatabase(dataDir, lock);
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
