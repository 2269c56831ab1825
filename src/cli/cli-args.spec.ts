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
