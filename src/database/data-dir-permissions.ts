import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The embedded database's files are private to the service's user: its WAL holds envelopes (and
 * plaintext tokens when no key is set). New files get 0600 and folders 0700 through the process
 * umask; an existing directory left readable by others is restricted here. Returns how many
 * entries were changed, so the caller can say so once.
 */
export function restrictDataDir(dataDir: string): number {
  process.umask(0o077);
  return restrict(dataDir);
}

function restrict(path: string): number {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return 0;
  let changed = 0;
  if ((stat.mode & 0o077) !== 0) {
    chmodSync(path, stat.isDirectory() ? 0o700 : 0o600);
    changed += 1;
  }
  if (stat.isDirectory()) {
    for (const name of readdirSync(path)) changed += restrict(join(path, name));
  }
  return changed;
}
