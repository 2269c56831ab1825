import { ENVELOPE_SEPARATOR } from '../connectors/token-columns';
import { ResealFailedError } from './rotation.errors';
import { mergeBatches, packBatch } from './reseal-row';

describe('packBatch and mergeBatches', () => {
  it('packs rows as columns whose envelopes split back into the same rows', () => {
    const packed = packBatch({
      resealed: [
        { id: 5, version: 2, accessToken: '{"a":"1"}' },
        { id: 9, version: 1, accessToken: '{"b":"2"}' },
      ],
      failures: [{ accountId: 7, reason: 'ENVELOPE_AUTH_FAILED' }],
    });
    expect(packed).toEqual({
      ids: [5, 9],
      versions: [2, 1],
      accessTokens: `{"a":"1"}${ENVELOPE_SEPARATOR}{"b":"2"}`,
      failures: [{ accountId: 7, reason: 'ENVELOPE_AUTH_FAILED' }],
    });
  });

  it('refuses an envelope holding the separator rather than let it split into two rows', () => {
    const resealed = [{ id: 1, version: 1, accessToken: `x${ENVELOPE_SEPARATOR}y` }];
    expect(() => packBatch({ resealed, failures: [] })).toThrow(
      new ResealFailedError('ENVELOPE_LAYOUT_UNEXPECTED'),
    );
  });

  it('merges parts in order, skips empty ones and sorts failures by account', () => {
    const first = packBatch({
      resealed: [{ id: 1, version: 1, accessToken: 'a' }],
      failures: [{ accountId: 4, reason: 'R' }],
    });
    const empty = packBatch({ resealed: [], failures: [{ accountId: 2, reason: 'S' }] });
    const last = packBatch({ resealed: [{ id: 3, version: 1, accessToken: 'c' }], failures: [] });
    expect(mergeBatches([first, empty, last])).toEqual({
      ids: [1, 3],
      versions: [1, 1],
      accessTokens: `a${ENVELOPE_SEPARATOR}c`,
      failures: [
        { accountId: 2, reason: 'S' },
        { accountId: 4, reason: 'R' },
      ],
    });
  });
});
