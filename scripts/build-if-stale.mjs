// `npm start` runs this first: it builds only when dist/ is missing or older than a source, so a
// start after an unchanged checkout takes seconds, and a fresh clone or an edit still builds.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const SOURCES = ['src', 'migrations', 'examples'];
const FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json'];
const BUILT = ['dist/src/main.js', 'dist/src/cli/main.js'];

function mtimeOf(path) {
  try {
    return statSync(path).mtimeMs;
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The newest change under `dir`: a file's content or a folder's entries (an added or removed file). */
function newestUnder(dir) {
  let newest = mtimeOf(dir) ?? 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(path) : (mtimeOf(path) ?? 0));
  }
  return newest;
}

const builtTimes = BUILT.map((path) => mtimeOf(join(ROOT, path)));
const builtAt = builtTimes.includes(undefined) ? undefined : Math.min(...builtTimes);
const sourcesAt = Math.max(
  ...SOURCES.map((dir) => (mtimeOf(join(ROOT, dir)) === undefined ? 0 : newestUnder(join(ROOT, dir)))),
  ...FILES.map((file) => mtimeOf(join(ROOT, file)) ?? 0),
);

if (builtAt !== undefined && builtAt >= sourcesAt) {
  process.stdout.write('dist/ is up to date with the sources: not rebuilding\n');
} else {
  process.stdout.write(
    builtAt === undefined ? 'no build yet: building\n' : 'sources changed since the last build: building\n',
  );
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  process.exit(build.status ?? 1);
}
