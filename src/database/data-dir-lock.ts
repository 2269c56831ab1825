import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { DomainError } from '../common/domain-error';

/** Another live process has the embedded database open: two PGlite instances on one directory corrupt it. */
export class DataDirInUseError extends DomainError {
  readonly code = 'DATA_DIR_IN_USE';
  readonly kind = 'unavailable';

  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `DATA_DIR ${dataDir} is in use by process ${holder.pid} (${holder.command}, since ${holder.since}): ` +
        'stop it first, or while it runs use its admin API instead of the command line',
    );
  }
}

interface LockHolder {
  pid: number;
  command: string;
  since: string;
}

const held = new Map<string, number>();

/** The exclusive lock of an embedded DATA_DIR (none for `memory://`): one process opens its database. */
export function dataDirLock(dataDir: string): { dataDir: string; file: string } | undefined {
  if (dataDir.startsWith('memory://')) return undefined;
  return { dataDir: resolve(dataDir), file: join(resolve(dataDir), 'lock') };
}

/**
 * Takes the exclusive lock of an embedded data directory: a file holding the owner's PID,
 * created only if absent. A lock whose process is gone is taken over. Returns the release.
 * The same process may take it again (several contexts one after another, as tests do).
 */
export function lockDataDir(dataDir: string, lockFile: string): () => void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const count = held.get(lockFile) ?? 0;
  if (count === 0) acquire(dataDir, lockFile);
  held.set(lockFile, count + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (held.get(lockFile) ?? 1) - 1;
    if (left > 0) {
      held.set(lockFile, left);
      return;
    }
    held.delete(lockFile);
    removeIfOurs(lockFile);
  };
}

function acquire(dataDir: string, lockFile: string): void {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      const fd = openSync(lockFile, 'wx', 0o600);
      const holder: LockHolder = {
        pid: process.pid,
        command: commandOf(process.argv),
        since: new Date().toISOString(),
      };
      writeSync(fd, `${JSON.stringify(holder)}\n`);
      closeSync(fd);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readHolder(lockFile);
    if (holder && holder.pid !== process.pid && isAlive(holder.pid))
      throw new DataDirInUseError(dataDir, holder);
    // Stale (its process is gone) or unreadable (a crash mid-write): taken over.
    try {
      unlinkSync(lockFile);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  const holder = readHolder(lockFile);
  throw new DataDirInUseError(dataDir, holder ?? { pid: 0, command: 'unknown', since: 'unknown' });
}

/** `node dist/src/cli/main.js keys:status`: the program and a command name, never other arguments. */
function commandOf(argv: string[]): string {
  const program = relative(process.cwd(), argv[1] ?? '') || 'node';
  const command = argv[2] && /^[a-z:]{1,30}$/.test(argv[2]) ? ` ${argv[2]}` : '';
  return `node ${program}${command}`;
}

function readHolder(lockFile: string): LockHolder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(lockFile, 'utf8')) as Partial<LockHolder>;
    if (!Number.isInteger(parsed.pid) || (parsed.pid as number) <= 0) return undefined;
    return {
      pid: parsed.pid as number,
      command: typeof parsed.command === 'string' ? parsed.command.slice(0, 100) : 'unknown',
      since: typeof parsed.since === 'string' ? parsed.since.slice(0, 40) : 'unknown',
    };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** Signal 0 checks existence only; EPERM means it exists under another user. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeIfOurs(lockFile: string): void {
  if (readHolder(lockFile)?.pid !== process.pid) return;
  try {
    unlinkSync(lockFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

process.on('exit', () => {
  for (const lockFile of held.keys()) removeIfOurs(lockFile);
});
