import type { RotationJobView } from '../rotation/rotation-job.view';

type Output = Pick<NodeJS.WriteStream, 'write'>;

const BAR_WIDTH = 30;
const LINE_INTERVAL_MS = 1000;

/** How often a command asks for the job's view: the bar is redrawn at most four times a second. */
export const PROGRESS_EVERY_MS = 250;

function summary(view: RotationJobView): string {
  const pass = view.pass > 1 ? `pass ${view.pass}, ` : '';
  const rate = view.rowsPerSecond === null ? '-' : Math.round(view.rowsPerSecond);
  const eta = view.etaSeconds === null ? '-' : `${view.etaSeconds}s`;
  return (
    `${pass}${view.scanned}/${view.totalEstimate} (${view.progressPercent.toFixed(1)}%) ` +
    `${view.dryRun ? 'would rotate' : 'rotated'} ${view.rotated}, skipped ${view.skipped}, ` +
    `${view.dryRun ? 'would fail' : 'failed'} ${view.failed}, ${rate} rows/s, ETA ${eta}`
  );
}

/** A bar redrawn in place on a terminal; otherwise (logs, pipes) at most one line a second. */
export class ProgressReporter {
  private lastLineAt = 0;

  constructor(
    private readonly out: Output,
    private readonly tty: boolean,
  ) {}

  update(view: RotationJobView): void {
    this.show(view.progressPercent, summary(view));
  }

  /** Any command's progress: how far, in percent, and a one-line summary. */
  show(percent: number, text: string): void {
    if (this.tty) {
      const filled = Math.round((Math.min(Math.max(percent, 0), 100) / 100) * BAR_WIDTH);
      this.out.write(`\r[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${text}\x1b[K`);
      return;
    }
    const now = Date.now();
    if (now - this.lastLineAt < LINE_INTERVAL_MS) return;
    this.lastLineAt = now;
    this.out.write(`progress: ${text}\n`);
  }

  /** Ends the bar's line so what follows starts on its own. */
  finish(): void {
    if (this.tty) this.out.write('\n');
  }
}
