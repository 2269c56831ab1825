import { parseCliArgs, UsageError } from './cli-args';

describe('parseCliArgs', () => {
  it('reads each command with its own options', () => {
    expect(parseCliArgs(['keys:generate'])).toEqual({ name: 'keys:generate', json: false });
    expect(parseCliArgs(['keys:status', '--json'])).toEqual({
      name: 'keys:status',
      json: true,
      check: false,
    });
    expect(parseCliArgs(['keys:status', '--check'])).toEqual({
      name: 'keys:status',
      json: false,
      check: true,
    });
    expect(parseCliArgs(['rotate', '--dry-run', '--batch-size', '500'])).toEqual({
      name: 'rotate',
      dryRun: true,
      batchSize: 500,
    });
    expect(parseCliArgs(['rotate', '--batch-size=10000'])).toMatchObject({ batchSize: 10000 });
    expect(parseCliArgs(['rotate', '-h'])).toEqual({ name: 'help' });
    expect(parseCliArgs(['incident:grants', '--provider', 'google_drive'])).toEqual({
      name: 'incident:grants',
      json: false,
      provider: 'google_drive',
      userId: undefined,
      accountId: undefined,
    });
    expect(
      parseCliArgs(['incident:grants', '--provider=notion', '--user', '7', '--account', '42', '--json']),
    ).toEqual({ name: 'incident:grants', json: true, provider: 'notion', userId: 7, accountId: 42 });
    expect(parseCliArgs(['incident:key', '0123456789abcdef', '--json'])).toEqual({
      name: 'incident:key',
      json: true,
      keyId: '0123456789abcdef',
    });
  });

  it.each([
    [[], 'a command is required'],
    [['keys:delete'], 'unknown command keys:delete'],
    [['rotate', 'now'], 'rotate takes no arguments'],
    [['keys:status', '--dry-run'], '--dry-run does not apply to keys:status'],
    [['rotate', '--json'], '--json does not apply to rotate'],
    [['rotate', '--batch-size', '0'], '--batch-size must be an integer between 1 and 10000'],
    [['rotate', '--batch-size', '10001'], '--batch-size must be an integer between 1 and 10000'],
    [['rotate', '--batch-size', '1e3'], '--batch-size must be an integer between 1 and 10000'],
    [['incident:grants'], 'incident:grants needs --provider, a lowercase slug of 2 to 64 characters'],
    [
      ['incident:grants', '--provider', 'Google Drive'],
      'incident:grants needs --provider, a lowercase slug of 2 to 64 characters',
    ],
    [['incident:grants', '--provider', 'x1', '--user', '0'], '--user must be a positive integer id'],
    [
      ['incident:grants', '--provider', 'x1', '--account', '9999999999'],
      '--account must be a positive integer id',
    ],
    [['incident:grants', '--provider', 'x1', 'now'], 'incident:grants takes no arguments'],
    [['rotate', '--provider', 'x1'], '--provider does not apply to rotate'],
  ])('refuses %j: %s', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(new UsageError(message));
  });

  it('reads the caller commands', () => {
    expect(
      parseCliArgs([
        'clients:add',
        'sync-worker',
        '--scopes',
        'tokens:read,accounts:read',
        '--providers=notion',
      ]),
    ).toEqual({
      name: 'clients:add',
      json: false,
      client: 'sync-worker',
      scopes: ['tokens:read', 'accounts:read'],
      providers: ['notion'],
    });
    expect(parseCliArgs(['clients:add', 'web', '--scopes', 'accounts:read', '--json'])).toEqual({
      name: 'clients:add',
      json: true,
      client: 'web',
      scopes: ['accounts:read'],
    });
    expect(parseCliArgs(['clients:rotate', 'web', '--finish'])).toEqual({
      name: 'clients:rotate',
      json: false,
      client: 'web',
      finish: true,
    });
    expect(parseCliArgs(['clients:disable', 'web'])).toEqual({
      name: 'clients:disable',
      json: false,
      client: 'web',
    });
    expect(parseCliArgs(['clients:list', '--json'])).toEqual({ name: 'clients:list', json: true });
  });

  it.each([
    [['clients:add', 'web'], 'clients:add needs --scopes'],
    [
      ['clients:add', 'web', '--scopes', 'tokens:write'],
      '--scopes: each must be one of accounts:read, accounts:write, tokens:read, tokens:refresh, connect',
    ],
    [
      ['clients:add', 'web', '--scopes', 'tokens:read,'],
      '--scopes: each must be one of accounts:read, accounts:write, tokens:read, tokens:refresh, connect',
    ],
    [
      ['clients:add', 'web', '--scopes', 'connect', '--providers', 'Google'],
      '--providers: each must be a provider slug',
    ],
    [
      ['clients:add', 'Web', '--scopes', 'connect'],
      'clients:add takes one caller name (a lowercase slug of 2 to 64 characters)',
    ],
    [['clients:rotate'], 'clients:rotate takes one caller name (a lowercase slug of 2 to 64 characters)'],
    [
      ['clients:rotate', 'a', 'b'],
      'clients:rotate takes one caller name (a lowercase slug of 2 to 64 characters)',
    ],
    [['clients:disable', 'web', '--finish'], '--finish does not apply to clients:disable'],
    [['clients:list', 'web'], 'clients:list takes no arguments'],
    [['incident:key'], 'incident:key takes one key id (16 hex characters)'],
    [['incident:key', '0123456789ABCDEF'], 'incident:key takes one key id (16 hex characters)'],
    [['incident:key', '0123456789abcdef', '--dry-run'], '--dry-run does not apply to incident:key'],
  ])('refuses %j: %s', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(new UsageError(message));
  });

  it('refuses unknown options', () => {
    expect(() => parseCliArgs(['rotate', '--force'])).toThrow(UsageError);
  });
});
