import { spawn, type ChildProcess } from 'node:child_process';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { freePort } from './built-server';
import { sleep } from './fixtures';

/** The AWS settings of an instance talking to the test's KMS server (any credentials are accepted). */
export function kmsEnv(endpoint: string): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_ENDPOINT_URL_KMS: endpoint,
  };
}

export interface KmsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const TEST_CREDENTIALS: KmsCredentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** The moto server, on a port of its own, for the real KMS HTTP API; stopped by `stop`. */
export class KmsServer {
  private child?: ChildProcess;
  port = 0;

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(this.port)], {
      stdio: 'ignore',
    });
    this.child = child;
    let missing: string | undefined;
    child.once('error', (error) => (missing = error.message));
    child.once('exit', (code) => (missing ??= `it exited with code ${code}`));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (missing) {
        throw new Error(
          `the KMS tests need moto: 'python3 -m moto.server' did not run (${missing}); pip install 'moto[server]'`,
        );
      }
      try {
        const answer = await fetch(`${this.endpoint}/moto-api/`);
        if (answer.status < 500) return;
      } catch {
        if (Date.now() > deadline) throw new Error('the KMS server did not start');
      }
      await sleep(100);
    }
  }

  /**
   * Credentials of another AWS account, by STS AssumeRole of a role in it: the KMS server keeps
   * each account's keys apart, as AWS does.
   */
  async otherAccount(accountId: string): Promise<KmsCredentials> {
    const answer = await fetch(`${this.endpoint}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization:
          'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0',
      },
      body: new URLSearchParams({
        Action: 'AssumeRole',
        Version: '2011-06-15',
        RoleArn: `arn:aws:iam::${accountId}:role/connectors-test`,
        RoleSessionName: 'connectors-test',
      }),
    });
    const xml = await answer.text();
    const field = (name: string) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(xml)?.[1] ?? '';
    if (!answer.ok || !field('AccessKeyId')) throw new Error(`AssumeRole answered ${answer.status}`);
    return {
      accessKeyId: field('AccessKeyId'),
      secretAccessKey: field('SecretAccessKey'),
      sessionToken: field('SessionToken'),
    };
  }

  /** A KMS client of the test's account, or of the account the credentials belong to. */
  client(credentials: KmsCredentials = TEST_CREDENTIALS, endpoint = this.endpoint): KMSClient {
    return new KMSClient({ region: 'us-east-1', endpoint, credentials });
  }

  /** A fresh symmetric KMS key, created through the API; returns its ARN. */
  async createKey(endpoint = this.endpoint, credentials = TEST_CREDENTIALS): Promise<string> {
    const client = this.client(credentials, endpoint);
    const answer = await client.send(new CreateKeyCommand({ Description: 'connectors test key' }));
    client.destroy();
    return answer.KeyMetadata?.Arn as string;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}
