import {
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  type KMSClientConfig,
} from '@aws-sdk/client-kms';
import { KmsUnavailableError, RegistryKeyRefusedError } from './keys.errors';
import { REGISTRY_BINDING_LABEL, type KeyWrapper } from './key-wrapper';

const PREFIX = 'aws-kms:';
const KEY_BYTES = 32;

/** An answer from KMS itself (a 4xx other than throttling) refuses; anything else is unavailability. */
function isRefusal(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const name = error instanceof Error ? error.name : '';
  return status !== undefined && status < 500 && !/Throttl|LimitExceeded/.test(name);
}

function failureName(error: unknown): string {
  return error instanceof Error ? error.name.slice(0, 60) : 'UnknownError';
}

/**
 * Data keys from KMS GenerateDataKey, wrapped by KMS Encrypt with the key id in the encryption
 * context; the KMS key never leaves KMS. Region, credentials and endpoint follow the SDK's own
 * conventions (AWS_REGION, the default credential chain, AWS_ENDPOINT_URL_KMS).
 */
export class AwsKmsKeyWrapper implements KeyWrapper {
  readonly wrappingKey: string;
  private readonly client: KMSClient;
  /** `arn:aws:kms:<region>:<account>:`: rows wrapped by another key of this account stay readable. */
  private readonly trustedPrefix: string;

  constructor(
    private readonly keyArn: string,
    region: string,
    clientConfig: KMSClientConfig = {},
  ) {
    this.wrappingKey = `${PREFIX}${keyArn}`;
    this.trustedPrefix = `${PREFIX}${keyArn.split(':').slice(0, 5).join(':')}:key/`;
    this.client = new KMSClient({
      region,
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 2000, requestTimeout: 5000 },
      ...clientConfig,
    });
  }

  async generate(): Promise<Buffer> {
    const answer = await this.call(() =>
      this.client.send(
        new GenerateDataKeyCommand({
          KeyId: this.keyArn,
          NumberOfBytes: KEY_BYTES,
          EncryptionContext: { purpose: REGISTRY_BINDING_LABEL },
        }),
      ),
    );
    if (answer.Plaintext?.length !== KEY_BYTES) throw new KmsUnavailableError('GenerateDataKeyAnswer');
    return Buffer.from(answer.Plaintext);
  }

  async wrap(keyId: string, plaintext: Buffer): Promise<{ wrapped: Buffer; wrappingKey: string }> {
    const answer = await this.call(() =>
      this.client.send(
        new EncryptCommand({ KeyId: this.keyArn, Plaintext: plaintext, EncryptionContext: contextOf(keyId) }),
      ),
    );
    if (!answer.CiphertextBlob || !answer.KeyId) throw new KmsUnavailableError('EncryptAnswer');
    // The key's own ARN, also when an alias was configured: the alias may move, the key does not.
    return { wrapped: Buffer.from(answer.CiphertextBlob), wrappingKey: `${PREFIX}${answer.KeyId}` };
  }

  accepts(wrappingKey: string): boolean {
    return wrappingKey === this.wrappingKey || wrappingKey.startsWith(this.trustedPrefix);
  }

  async unwrap(keyId: string, wrapped: Buffer, wrappingKey: string): Promise<Buffer> {
    if (!this.accepts(wrappingKey)) {
      throw new RegistryKeyRefusedError(keyId, 'wrapped by a KMS key outside the configured account');
    }
    let answer;
    try {
      answer = await this.client.send(
        new DecryptCommand({
          KeyId: wrappingKey.slice(PREFIX.length),
          CiphertextBlob: wrapped,
          EncryptionContext: contextOf(keyId),
        }),
      );
    } catch (error) {
      if (isRefusal(error)) throw new RegistryKeyRefusedError(keyId, `KMS ${failureName(error)}`);
      throw new KmsUnavailableError(failureName(error));
    }
    if (answer.Plaintext?.length !== KEY_BYTES) throw new RegistryKeyRefusedError(keyId, 'not a 32-byte key');
    return Buffer.from(answer.Plaintext);
  }

  close(): void {
    this.client.destroy();
  }

  private async call<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      // Named by class only: an SDK message may quote a request.
      throw new KmsUnavailableError(failureName(error));
    }
  }
}

function contextOf(keyId: string): Record<string, string> {
  return { purpose: REGISTRY_BINDING_LABEL, key_id: keyId };
}
