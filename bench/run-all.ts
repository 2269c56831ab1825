import { runEnvelopeBench } from './envelope.bench';
import { runInventoryBench } from './inventory.bench';
import { runRequestBench } from './request.bench';
import { runRotationBench } from './rotation.bench';

/** `npm run bench` (add `-- --quick` for smaller N): the four benchmarks, one after the other. */
async function main(): Promise<void> {
  await runEnvelopeBench();
  await runRequestBench();
  await runRotationBench();
  await runInventoryBench();
}

void main();
