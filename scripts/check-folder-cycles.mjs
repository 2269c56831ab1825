// Fails when the folders of src/ import each other in a cycle, naming the cycle and an import on
// each of its edges. A folder is a top-level folder of src/; a file directly in src/ is its own node.
// Every import counts: type-only, dynamic and spec files' too. `--graph` prints the folder graph.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');

function sourceFiles(folder) {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

function resolveImport(from, specifier) {
  if (!specifier.startsWith('.')) return undefined;
  const base = resolve(dirname(from), specifier);
  return [`${base}.ts`, join(base, 'index.ts'), base].find(
    (path) => existsSync(path) && statSync(path).isFile(),
  );
}

function nodeOf(file) {
  const [first, ...rest] = relative(SRC, file).split(sep);
  return rest.length === 0 ? first : `${first}/`;
}

/** Folder -> folder -> the first import seen on that edge ("file: specifier"). */
const edges = new Map();
for (const file of sourceFiles(SRC)) {
  const from = nodeOf(file);
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  for (const { fileName } of importedFiles) {
    const target = resolveImport(file, fileName);
    if (!target || !target.startsWith(SRC + sep)) continue;
    const to = nodeOf(target);
    if (to === from) continue;
    if (!edges.has(from)) edges.set(from, new Map());
    if (!edges.get(from).has(to)) edges.get(from).set(to, `${relative(ROOT, file)} imports '${fileName}'`);
  }
}

if (process.argv.includes('--graph')) {
  for (const [from, to] of [...edges].sort())
    process.stdout.write(`${from} -> ${[...to.keys()].sort().join(' ')}\n`);
}
const problems = [];
// Tarjan's strongly connected components: every component of more than one node holds a cycle.
let index = 0;
const state = new Map();
const stack = [];
const components = [];
function visit(node) {
  state.set(node, { index, low: index, onStack: true });
  index += 1;
  stack.push(node);
  for (const next of edges.get(node)?.keys() ?? []) {
    if (!state.has(next)) {
      visit(next);
      state.get(node).low = Math.min(state.get(node).low, state.get(next).low);
    } else if (state.get(next).onStack) {
      state.get(node).low = Math.min(state.get(node).low, state.get(next).index);
    }
  }
  if (state.get(node).low === state.get(node).index) {
    const component = [];
    let member;
    do {
      member = stack.pop();
      state.get(member).onStack = false;
      component.push(member);
    } while (member !== node);
    if (component.length > 1) components.push(component);
  }
}
for (const node of [...edges.keys()].sort()) if (!state.has(node)) visit(node);

/** One shortest cycle through `start`, inside its component. */
function cycleThrough(start, members) {
  const previous = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift();
    for (const next of edges.get(node)?.keys() ?? []) {
      if (next === start) {
        const path = [node];
        while (previous.get(path[0]) !== undefined) path.unshift(previous.get(path[0]));
        return [...path, start];
      }
      if (members.includes(next) && !previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start];
}

for (const members of components) {
  const cycle = cycleThrough(members.sort()[0], members);
  const steps = cycle.slice(1).map((to, i) => `  ${cycle[i]} -> ${to}: ${edges.get(cycle[i]).get(to)}`);
  problems.push(`folder cycle ${cycle.join(' -> ')} (component: ${members.join(', ')})\n${steps.join('\n')}`);
}

if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n`);
  process.exit(1);
}
