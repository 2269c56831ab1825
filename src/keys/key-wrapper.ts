/**
 * Wraps and unwraps data keys under a root: a KMS key, or a local root key. Every wrapped key is
 * bound to its key id, so a blob moved to another row does not unwrap. Plaintext keys are
 * Buffers only between these calls and a KeyObject; callers wipe them.
 */
export interface KeyWrapper {
  /** What the registry row records as its wrapping key; names a key, never holds one. */
  readonly wrappingKey: string;
  /** 32 fresh bytes from the key service's own generator. */
  generate(): Promise<Buffer>;
  wrap(keyId: string, plaintext: Buffer): Promise<{ wrapped: Buffer; wrappingKey: string }>;
  /** Whether a row wrapped under `wrappingKey` is this wrapper's to open. */
  accepts(wrappingKey: string): boolean;
  /** Throws RegistryKeyRefusedError when the blob is not this key id's, KmsUnavailableError when KMS is down. */
  unwrap(keyId: string, wrapped: Buffer, wrappingKey: string): Promise<Buffer>;
  /** Releases connections (the KMS client's sockets). */
  close(): void;
}

export const REGISTRY_BINDING_LABEL = 'connectors-backend/key-registry/v1';
