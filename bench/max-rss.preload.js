// Preloaded into a measured child process: on exit, reports its peak resident set size (bytes)
// and the CPU time it used (user and system, µs), as JSON.
process.on('exit', () => {
  const file = process.env.BENCH_MAX_RSS_FILE;
  if (!file) return;
  const usage = process.resourceUsage();
  const report = { maxRssBytes: usage.maxRSS * 1024, cpuMicros: usage.userCPUTime + usage.systemCPUTime };
  require('node:fs').writeFileSync(file, JSON.stringify(report));
});
