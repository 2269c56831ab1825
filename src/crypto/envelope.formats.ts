export const FORMAT_V1 = 'aesgcm:v1';
export const FORMAT_V2 = 'aesgcm:v2';

export type EnvelopeInfo = { format: 'v2'; kid: string } | { format: 'v1' } | { format: 'plaintext' };
