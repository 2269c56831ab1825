import { runEnvelopeBench } from './envelope.bench';
import { runInventoryBench } from './inventory.bench';
import { runRefreshBench } from './refresh.bench';
import { runRequestBench } from './request.bench';
import { runRotationBench } from './rotation.bench';

/**
 * `npm run bench` (add `-- --quick` for smaller N): the five benchmarks, one after the other,
 * then their five summary lines together.
 */
async function main(): Promise<void> {
  const summaries = [
    await runEnvelopeBench(),
    await runRequestBench(),
    await runRefreshBench(),
    await runRotationBench(),
    await runInventoryBench(),
  ];
  console.log(`\nSummary (${new Date().toISOString().slice(0, 10)})`);
  for (const summary of summaries) console.log(summary);
}

void main();
