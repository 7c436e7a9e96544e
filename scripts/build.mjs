#!/usr/bin/env node
/**
 * `npm run build` (also run by `npm install`, `npm start` and `npm test`): the packages with
 * `tsc -b`, then the demo and the console with their own `npm run build` (vue-tsc, vite).
 *
 * A step is skipped when its inputs and its outputs are, byte for byte, what they were
 * after its last successful run. Each step's stamp is a SHA-256 over the contents (and
 * paths) of its files, kept in .build-stamps.json at the root (gitignored); modification
 * times are never trusted, since `git checkout`, `cp -p` or an archive can give a changed
 * file an old one. `--force` ignores the stamps and rebuilds everything.
 *
 * - packages/*: inputs are the project's `include` directories, its tsconfig.json and
 *   package.json, tsconfig.base.json, package-lock.json (compiler and type versions) and
 *   this script; outputs are its outDir. Inputs changed: the project's .tsbuildinfo is
 *   dated 1970 so that `tsc -b` looks at it, and tsc's own incremental state (which holds
 *   a hash of every source file) decides what to emit. Outputs changed or missing (someone
 *   deleted dist/): its .tsbuildinfo is deleted, so the project is built from scratch —
 *   `tsc -b` alone would call it up to date. Nothing changed anywhere: tsc is not started.
 *   After tsc, the outputs of source files that no longer exist are deleted (pruneOrphans).
 * - apps/* (the demo and the console): inputs are every file of the app but dist/ and node_modules/,
 *   the files outside it that its sources import by relative path (the console takes
 *   packages/cli/src/script.ts that way), the built output of the workspace packages it
 *   depends on, package-lock.json and this script; outputs are its dist/.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STAMPS = join(ROOT, '.build-stamps.json');
/** Files every step depends on besides its own. */
const SHARED_INPUTS = ['package-lock.json', 'scripts/build.mjs'].map((file) => join(ROOT, file));

const flags = new Set(process.argv.slice(2));
for (const flag of flags) {
  if (flag !== '--force') fail(`unknown option ${flag}; the only one is --force (rebuild everything)`);
}
const force = flags.has('--force');

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

/** Every file under `dir` (absolute paths, sorted), leaving out directories named in `skip`. Missing dir: none. */
function filesUnder(dir, skip = new Set()) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!skip.has(entry.name)) out.push(...filesUnder(path, skip));
    } else if (entry.isFile()) {
      out.push(path);
    }
  }
  return out.sort();
}

/** SHA-256 over each file's path (relative to the root) and contents, plus any extra strings. */
function digest(files, extra = []) {
  const hash = createHash('sha256');
  for (const file of [...new Set(files)].sort()) {
    hash.update(`${relative(ROOT, file).split(sep).join('/')}\0`);
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  for (const value of extra) hash.update(`${value}\0`);
  return hash.digest('hex');
}

function readStamps() {
  if (force || !existsSync(STAMPS)) return {};
  try {
    return readJson(STAMPS);
  } catch {
    return {}; // unreadable: as if nothing had been built
  }
}

function writeStamps(stamps) {
  const temporary = `${STAMPS}.${process.pid}`;
  writeFileSync(temporary, `${JSON.stringify(stamps, null, 2)}\n`);
  renameSync(temporary, STAMPS);
}

function run(command, args, what) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit' });
  if (result.error) fail(`${what}: ${result.error.message}`);
  if (result.status !== 0) fail(`${what} failed (exit ${result.status ?? result.signal})`);
}

function fail(message) {
  process.stderr.write(`build: ${message}\n`);
  process.exit(1);
}

/** The TypeScript projects the root tsconfig.json references, with their files. */
function tscProjects() {
  const base = join(ROOT, 'tsconfig.base.json');
  return readJson(join(ROOT, 'tsconfig.json')).references.map(({ path }) => {
    const dir = join(ROOT, path);
    const config = readJson(join(dir, 'tsconfig.json'));
    const options = config.compilerOptions ?? {};
    if (!options.outDir) fail(`${path}/tsconfig.json has no outDir: cannot tell its outputs`);
    const outDir = join(dir, options.outDir);
    return {
      name: path,
      packageName: readJson(join(dir, 'package.json')).name,
      buildInfo: join(dir, options.tsBuildInfoFile ?? 'tsconfig.tsbuildinfo'),
      inputFiles: () => [
        ...(config.include ?? []).flatMap((entry) => filesUnder(join(dir, entry))),
        join(dir, 'tsconfig.json'),
        join(dir, 'package.json'),
        base,
        ...SHARED_INPUTS,
      ],
      outputFiles: () => filesUnder(outDir),
      rootDir: join(dir, options.rootDir ?? '.'),
      outDir,
    };
  });
}

/** What tsc writes for one source file, longest first: `a.d.ts.map` must not be read as `a.d.ts` + `.map`. */
const TSC_OUTPUT = /(\.d\.[cm]?ts\.map|\.[cm]?js\.map|\.d\.[cm]?ts|\.[cm]?js)$/;
const SOURCE_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs'];

/**
 * Deletes what tsc wrote for a source file that is gone: `tsc -b` never deletes an output, so
 * after a file is renamed or removed its old .js and .d.ts stay in dist/, importable and in the
 * published types (a long-lived checkout then fails the public-types test that a clean clone
 * passes). Only files named like tsc's outputs are touched.
 */
function pruneOrphans({ rootDir, outDir }) {
  for (const file of filesUnder(outDir)) {
    const suffix = TSC_OUTPUT.exec(file)?.[1];
    if (suffix === undefined) continue;
    const stem = join(rootDir, relative(outDir, file.slice(0, -suffix.length)));
    if (!SOURCE_EXTENSIONS.some((extension) => existsSync(stem + extension))) rmSync(file);
  }
}

/** `from './x.js'`, `import './x.js'`, `import('./x.js')`: relative specifiers only. */
const RELATIVE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])(\.{1,2}\/[^'"]+)\1/g;
const SOURCE = /\.(?:[cm]?[jt]s|vue)$/;

/** Resolves a relative specifier the way Vite and TypeScript would for our sources (`./a.js` may be `./a.ts`). */
function resolveSource(from, specifier) {
  const target = resolve(dirname(from), specifier);
  const candidates = [target, target.replace(/\.js$/, '.ts'), `${target}.ts`, `${target}.js`, join(target, 'index.ts')];
  return candidates.find((file) => existsSync(file) && statSync(file).isFile());
}

/** Files outside `appDir` that its sources import by relative path, and what those import in turn. */
function importedFromOutside(appDir, appFiles) {
  const outside = new Set();
  const queue = appFiles.filter((file) => SOURCE.test(file));
  const seen = new Set(queue);
  while (queue.length > 0) {
    const file = queue.pop();
    for (const [, , specifier] of readFileSync(file, 'utf8').matchAll(RELATIVE_IMPORT)) {
      const target = resolveSource(file, specifier);
      if (target === undefined || seen.has(target)) continue;
      seen.add(target);
      if (!target.startsWith(appDir + sep)) outside.add(target);
      if (SOURCE.test(target)) queue.push(target);
    }
  }
  return [...outside];
}

/** Workspace packages `name` depends on, directly or not (names). */
function workspaceDependencies(manifest, manifests) {
  const found = new Set();
  const visit = (m) => {
    for (const dep of Object.keys({ ...m.dependencies, ...m.peerDependencies })) {
      if (manifests.has(dep) && !found.has(dep)) {
        found.add(dep);
        visit(manifests.get(dep));
      }
    }
  };
  visit(manifest);
  return found;
}

const stamps = readStamps();
const did = [];
const skipped = [];

// 1. The packages.
const projects = tscProjects();
const before = new Map(projects.map((p) => [p.name, digest(p.inputFiles())]));
let stale = false;
for (const project of projects) {
  const stamp = stamps[project.name];
  if (stamp === undefined || stamp.outputs !== digest(project.outputFiles())) {
    rmSync(project.buildInfo, { force: true });
    stale = true;
  } else if (stamp.inputs !== before.get(project.name)) {
    if (existsSync(project.buildInfo)) utimesSync(project.buildInfo, 0, 0);
    stale = true;
  }
}
if (stale) {
  const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  run(process.execPath, [tsc, '-b', ...(force ? ['--force'] : [])], 'tsc -b');
  for (const project of projects) pruneOrphans(project);
  did.push('packages');
} else {
  skipped.push('packages');
}
const builtPackages = new Map();
for (const project of projects) {
  const outputs = digest(project.outputFiles());
  stamps[project.name] = { inputs: before.get(project.name), outputs };
  builtPackages.set(project.packageName, outputs);
}
writeStamps(stamps);

// 2. The apps.
const workspaces = readJson(join(ROOT, 'package.json')).workspaces;
const manifests = new Map(
  workspaces.map((path) => {
    const manifest = readJson(join(ROOT, path, 'package.json'));
    return [manifest.name, manifest];
  }),
);
for (const app of workspaces.filter((path) => path.startsWith('apps/'))) {
  const dir = join(ROOT, app);
  const own = filesUnder(dir, new Set(['dist', 'node_modules']));
  const dependencies = [...workspaceDependencies(readJson(join(dir, 'package.json')), manifests)].sort();
  const inputs = digest(
    [...own, ...importedFromOutside(dir, own), ...SHARED_INPUTS],
    dependencies.map((name) => `${name}=${builtPackages.get(name) ?? 'not a built package'}`),
  );
  const outputFiles = () => filesUnder(join(dir, 'dist'));
  const stamp = stamps[app];
  if (stamp !== undefined && stamp.inputs === inputs && stamp.outputs === digest(outputFiles()) && existsSync(join(dir, 'dist', 'index.html'))) {
    skipped.push(app.slice('apps/'.length));
    continue;
  }
  run('npm', ['run', 'build', '--silent', '-w', app], `npm run build -w ${app}`);
  stamps[app] = { inputs, outputs: digest(outputFiles()) };
  writeStamps(stamps);
  did.push(app.slice('apps/'.length));
}

if (skipped.length > 0) {
  const list = skipped.join(', ');
  process.stdout.write(`build: ${did.length === 0 ? 'nothing changed' : `built ${did.join(', ')}; unchanged`}: ${list} (content hashes in .build-stamps.json; --force rebuilds all)\n`);
}
