/** Captures every byte the process writes to stdout and stderr, for leak assertions. */
export class OutputCapture {
  private readonly chunks: string[] = [];
  private restore?: () => void;

  start(): void {
    const stdoutWrite = process.stdout.write.bind(process.stdout);
    const stderrWrite = process.stderr.write.bind(process.stderr);
    const record = (chunk: unknown) => {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
      return true;
    };
    process.stdout.write = record as typeof process.stdout.write;
    process.stderr.write = record as typeof process.stderr.write;
    this.restore = () => {
      process.stdout.write = stdoutWrite;
      process.stderr.write = stderrWrite;
    };
  }

  stop(): string {
    this.restore?.();
    this.restore = undefined;
    return this.text();
  }

  text(): string {
    return this.chunks.join('');
  }
}

/** The forms a secret could take in output: raw, base64, base64url and URL-encoded. */
export function leakedForms(secret: string): string[] {
  const forms = [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('base64url')];
  forms.push(encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1));
  return [...new Set(forms.filter((form) => form.length >= 8))];
}

export function findLeaks(output: string, secrets: string[]): string[] {
  return secrets.filter((secret) => leakedForms(secret).some((form) => output.includes(form)));
}
