import { parseArgs } from 'node:util';
import { BATCH_SIZE_LIMITS } from '../rotation/key-rotation-job.entity';

export const USAGE = `Usage: connectors <command> [options]     (npx connectors ..., after npm run build)

Commands:
  migrate                                  run pending database migrations, printing each
  migrate:revert                           revert the last migration that ran
  keys:generate [--json]                   print a new random key and its key id (needs no database)
  keys:status [--json] [--check]           accounts per key id; which previous keys are safe to retire
  keys:add [--json]                        registry mode: a new decrypt-only key; prints its key id
  keys:promote KID [--json]                registry mode: make KID the primary key, once every live
                                           instance has loaded it
  keys:retire KID [--json]                 registry mode: retire KID (refused while an account uses it)
  keys:rewrap [--json]                     registry mode: re-wrap every key under KEY_WRAPPING (root
                                           rotation); writes no account row
  keys:import [--json]                     move the env-mode keys (WORKFLOWS_ARTIFACT_ENC_KEY...) into
                                           the registry of KEY_WRAPPING with the same key ids
  rotate [--dry-run] [--batch-size N]      re-seal every account with the primary key, in the foreground;
                                           resumes an interrupted job, otherwise starts one
  incident:key KID [--json]                KID is believed leaked: registry mode adds and promotes a new
                                           key (env mode needs a new WORKFLOWS_ARTIFACT_ENC_KEY first),
                                           ends connect sessions sealed under KID, rotates every account
                                           and provider client secret off it, then retires it; resumes
                                           an interrupted incident

Options:
  --json            machine-readable output
  --check           keys:status exits 1 while the inventory has a warning (plaintext, damaged or
                    unreadable accounts)
  --dry-run         open every account and count what would be rotated or fail; write nothing
  --batch-size N    accounts per transaction, 1 to 10000 (default ROTATION_BATCH_SIZE)
  -h, --help        this text

Exit codes: 0 done (rotate: every account is on the primary key; incident:key: KID retired, or in
env mode nothing left under it), 1 some accounts failed or remain, 2 bad usage or configuration,
3 another live worker holds the job's lease; keys:* and incident:key exit 4 when refused (key in
use, not loaded everywhere, wrong state, env mode without a new primary key) and 5 when KMS is
unavailable; 130 interrupted (Ctrl-C; run again to resume).
`;

/** Bad arguments: exit code 2 with the usage hint. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type CliCommand =
  | { name: 'help' }
  | { name: 'migrate' }
  | { name: 'migrate:revert' }
  | { name: 'keys:generate'; json: boolean }
  | { name: 'keys:status'; json: boolean; check: boolean }
  | { name: 'rotate'; dryRun: boolean; batchSize?: number }
  | { name: 'keys:add' | 'keys:rewrap' | 'keys:import'; json: boolean }
  | { name: 'keys:promote' | 'keys:retire'; json: boolean; keyId: string }
  | { name: 'incident:key'; json: boolean; keyId: string };

export type KeyLifecycleCommand = Extract<
  CliCommand,
  { name: `keys:${'add' | 'rewrap' | 'import' | 'promote' | 'retire'}` }
>;

const KEY_ID_COMMANDS = ['keys:promote', 'keys:retire', 'incident:key'] as const;
const KEY_COMMANDS = ['keys:add', 'keys:rewrap', 'keys:import'] as const;

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  check: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  'batch-size': { type: 'string' },
} as const;

const OPTIONS_OF: Record<string, readonly string[]> = {
  migrate: [],
  'migrate:revert': [],
  'keys:generate': ['json'],
  'keys:status': ['json', 'check'],
  rotate: ['dry-run', 'batch-size'],
  'keys:add': ['json'],
  'keys:promote': ['json'],
  'keys:retire': ['json'],
  'keys:rewrap': ['json'],
  'keys:import': ['json'],
  'incident:key': ['json'],
};

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : 'invalid arguments');
  }
}

function batchSizeOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  const { min, max } = BATCH_SIZE_LIMITS;
  if (!(value >= min && value <= max)) {
    throw new UsageError(`--batch-size must be an integer between ${min} and ${max}`);
  }
  return value;
}

export function parseCliArgs(argv: string[]): CliCommand {
  const { values, positionals } = parse(argv);
  if (values.help) return { name: 'help' };
  const [name, ...extra] = positionals;
  if (name === undefined) throw new UsageError('a command is required');
  const allowed = OPTIONS_OF[name];
  if (!allowed) throw new UsageError(`unknown command ${name}`);
  const keyIdCommand = KEY_ID_COMMANDS.find((command) => command === name);
  if (keyIdCommand) {
    if (extra.length !== 1 || !/^[0-9a-f]{16}$/.test(extra[0])) {
      throw new UsageError(`${name} takes one key id (16 hex characters)`);
    }
  } else if (extra.length > 0) throw new UsageError(`${name} takes no arguments`);
  const misplaced = Object.keys(values).find((option) => !allowed.includes(option));
  if (misplaced) throw new UsageError(`--${misplaced} does not apply to ${name}`);
  if (name === 'rotate') {
    return { name, dryRun: values['dry-run'] === true, batchSize: batchSizeOf(values['batch-size']) };
  }
  if (name === 'migrate' || name === 'migrate:revert') return { name };
  if (keyIdCommand) return { name: keyIdCommand, json: values.json === true, keyId: extra[0] };
  const keyCommand = KEY_COMMANDS.find((command) => command === name);
  if (keyCommand) return { name: keyCommand, json: values.json === true };
  if (name === 'keys:status') return { name, json: values.json === true, check: values.check === true };
  return { name: 'keys:generate', json: values.json === true };
}
