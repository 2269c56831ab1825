import { parseArgs } from 'node:util';
import { CALLER_NAME, CALLER_SCOPES, type CallerScope } from '../callers/caller';
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
  clients:add NAME --scopes S,... [--providers P,...] [--json]
                                           register a caller of the service routes; prints its secret once
  clients:rotate NAME [--finish] [--json]  a second secret, printed once (the first works until --finish or
                                           CLIENT_SECRET_OVERLAP_HOURS); --finish: only the newest works
  clients:disable NAME [--json]            refuse every secret of NAME from now on
  clients:list [--json]                    every caller: scopes, providers, secrets by prefix, last use
  incident:grants --provider P [--user U] [--account ID] [--json]
                                           grants believed leaked: revoke each matching account's grant
                                           at P, mark it needs_reauth (revoked_by_operator); run again
                                           to retry what failed
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
  --scopes S,...    ${CALLER_SCOPES.join(', ')}
  --providers P,... only accounts of these providers (default: every provider)
  --finish          clients:rotate: end the rotation, retiring the older secret
  --provider P      incident:grants: the provider whose grants are ended
  --user U          incident:grants: only this user's accounts
  --account ID      incident:grants: only this account
  -h, --help        this text

Exit codes: 0 done (rotate: every account is on the primary key; incident:grants: every matching
grant ended; incident:key: KID retired, or in env mode nothing left under it), 1 some accounts
failed or remain, 2 bad usage or configuration, 3 another live worker holds the job's lease
(incident:grants: another run for the provider), 130 interrupted (Ctrl-C; run again to resume);
keys:*, clients:* and incident:key exit 4 when refused (key in use, not loaded everywhere, wrong
state, env mode without a new primary key; caller exists, not found, disabled) and keys:* and
incident:key 5 when KMS is unavailable.
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
  | { name: 'incident:key'; json: boolean; keyId: string }
  | ClientsCommand
  | IncidentGrantsCommand;

export type ClientsCommand =
  | { name: 'clients:add'; json: boolean; client: string; scopes: CallerScope[]; providers?: string[] }
  | { name: 'clients:rotate'; json: boolean; client: string; finish: boolean }
  | { name: 'clients:disable'; json: boolean; client: string }
  | { name: 'clients:list'; json: boolean };

export interface IncidentGrantsCommand {
  name: 'incident:grants';
  json: boolean;
  provider: string;
  userId?: number;
  accountId?: number;
}

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
  scopes: { type: 'string' },
  providers: { type: 'string' },
  finish: { type: 'boolean' },
  provider: { type: 'string' },
  user: { type: 'string' },
  account: { type: 'string' },
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
  'clients:add': ['json', 'scopes', 'providers'],
  'clients:rotate': ['json', 'finish'],
  'clients:disable': ['json'],
  'clients:list': ['json'],
  'incident:grants': ['json', 'provider', 'user', 'account'],
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

function idOf(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9][0-9]{0,9}$/.test(text) || Number(text) > 2 ** 31 - 1)
    throw new UsageError(`--${option} must be a positive integer id`);
  return Number(text);
}

function incidentGrantsOf(values: ReturnType<typeof parse>['values']): IncidentGrantsCommand {
  const provider = values.provider;
  if (provider === undefined || !/^[a-z][a-z0-9_-]{1,63}$/.test(provider))
    throw new UsageError('incident:grants needs --provider, a lowercase slug of 2 to 64 characters');
  return {
    name: 'incident:grants',
    json: values.json === true,
    provider,
    userId: idOf('user', values.user),
    accountId: idOf('account', values.account),
  };
}

export function parseCliArgs(argv: string[]): CliCommand {
  const { values, positionals } = parse(argv);
  if (values.help) return { name: 'help' };
  const [name, ...extra] = positionals;
  if (name === undefined) throw new UsageError('a command is required');
  const allowed = OPTIONS_OF[name];
  if (!allowed) throw new UsageError(`unknown command ${name}`);
  if (name.startsWith('clients:')) return parseClientsCommand(name, extra, values);
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
  if (name === 'incident:grants') return incidentGrantsOf(values);
  if (keyIdCommand) return { name: keyIdCommand, json: values.json === true, keyId: extra[0] };
  const keyCommand = KEY_COMMANDS.find((command) => command === name);
  if (keyCommand) return { name: keyCommand, json: values.json === true };
  if (name === 'keys:status') return { name, json: values.json === true, check: values.check === true };
  return { name: 'keys:generate', json: values.json === true };
}

const PROVIDER = /^[a-z][a-z0-9_-]{1,63}$/;

function listOption(text: string, option: string, valid: (item: string) => boolean, rule: string): string[] {
  const items = text.split(',').map((item) => item.trim());
  if (items.length === 0 || items.some((item) => !valid(item))) throw new UsageError(`--${option}: ${rule}`);
  return items;
}

function parseClientsCommand(
  name: string,
  extra: string[],
  values: ReturnType<typeof parse>['values'],
): ClientsCommand {
  const misplaced = Object.keys(values).find((option) => !OPTIONS_OF[name].includes(option));
  if (misplaced) throw new UsageError(`--${misplaced} does not apply to ${name}`);
  const json = values.json === true;
  if (name === 'clients:list') {
    if (extra.length > 0) throw new UsageError(`${name} takes no arguments`);
    return { name, json };
  }
  if (extra.length !== 1 || !CALLER_NAME.test(extra[0]))
    throw new UsageError(`${name} takes one caller name (a lowercase slug of 2 to 64 characters)`);
  const client = extra[0];
  if (name === 'clients:rotate') return { name, json, client, finish: values.finish === true };
  if (name === 'clients:disable') return { name, json, client };
  if (values.scopes === undefined) throw new UsageError('clients:add needs --scopes');
  const scopes = listOption(
    values.scopes,
    'scopes',
    (scope) => (CALLER_SCOPES as readonly string[]).includes(scope),
    `each must be one of ${CALLER_SCOPES.join(', ')}`,
  ) as CallerScope[];
  const providers =
    values.providers === undefined
      ? undefined
      : listOption(
          values.providers,
          'providers',
          (item) => PROVIDER.test(item),
          'each must be a provider slug',
        );
  return { name: 'clients:add', json, client, scopes, ...(providers ? { providers } : {}) };
}
