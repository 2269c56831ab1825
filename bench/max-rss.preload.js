// Preloaded into a measured child process: reports its peak resident set size on exit.
process.on('exit', () => {
  const file = process.env.BENCH_MAX_RSS_FILE;
  if (file) require('node:fs').writeFileSync(file, String(process.resourceUsage().maxRSS * 1024));
});
