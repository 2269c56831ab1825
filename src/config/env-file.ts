import { parse } from 'dotenv';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

let loaded = false;

/**
 * True once an entry point has read `.env` into the environment: the configuration module then
 * leaves the file alone, so a setting the process removed since (keys:import takes the keys
 * out) does not come back from it.
 */
export function envFileLoaded(): boolean {
  return loaded;
}

/**
 * Reads `.env` in the working directory into `env` before anything reads the settings: what the
 * process was given wins, as in the configuration module, which reads the same file later.
 * Entry points call it first, so the port, the data directory and the tokens the start-up reads
 * itself (and the development credentials it would otherwise generate) come from the file too.
 * Skipped under NODE_ENV=test, where the configuration module ignores the file as well. Returns
 * the path of the file read, if one was.
 */
export function loadEnvFile(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string | undefined {
  if (env.NODE_ENV === 'test') return undefined;
  loaded = true;
  const file = resolve(cwd, '.env');
  if (!existsSync(file)) return undefined;
  for (const [name, value] of Object.entries(parse(readFileSync(file)))) {
    if (!(name in env)) env[name] = value;
  }
  return file;
}
