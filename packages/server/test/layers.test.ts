/**
 * The server's layers depend one way (ARCHITECTURE.md, "Layers"): each file imports only
 * from its own layer or the layers below it, type imports included, with no circle
 * anywhere; only the Node transport touches `ws`, only transport/bun/ and transport/deno/ name
 * `Bun` and `Deno`. Imports are read with TypeScript's own
 * pre-processor (import, import type, export … from, import()), not by pattern.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

/** Bottom to top: a file may import from its own layer and those before it. `index.ts` (the public exports) sits above all. */
const LAYERS = ['leaves', 'transport', 'channels', 'connection', 'lifeline', 'app'] as const;
/** Packages only the Node transport may import: everything above talks to the Transport interface. */
const TRANSPORT_ONLY = new Map([['ws', 'transport/node/']]);
/** Runtime globals only that runtime's transport may name (as an identifier, anywhere in a file). */
const RUNTIME_GLOBALS = new Map([
  ['Bun', 'transport/bun/'],
  ['Deno', 'transport/deno/'],
]);

/** Identifiers a file names, by TypeScript's scanner (so comments and strings do not count). */
function identifiers(text: string): Set<string> {
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, text);
  const names = new Set<string>();
  for (let token = scanner.scan(); token !== ts.SyntaxKind.EndOfFileToken; token = scanner.scan()) {
    if (token === ts.SyntaxKind.Identifier) names.add(scanner.getTokenValue());
  }
  return names;
}

type Sources = Map<string, string>; // path relative to src, with '/' → text

function readSources(dir: string): Sources {
  const out: Sources = new Map();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(relative(dir, path).split(sep).join('/'), readFileSync(path, 'utf8'));
  }
  return out;
}

/** Every module specifier a file names, static or dynamic, value or type. */
function specifiers(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((file) => file.fileName);
}

function layerOf(file: string): number | 'index' | undefined {
  if (file === 'index.ts') return 'index';
  const index = LAYERS.indexOf(file.split('/')[0] as (typeof LAYERS)[number]);
  return file.includes('/') && index !== -1 ? index : undefined;
}

/** What breaks the rule, as sentences: files outside a layer, arrows against the direction, forbidden packages, circles. */
export function layerViolations(sources: Sources): string[] {
  const problems: string[] = [];
  const edges = new Map<string, string[]>();
  for (const [file, text] of sources) {
    const from = layerOf(file);
    if (from === undefined) problems.push(`${file} is in no layer (${LAYERS.join(', ')})`);
    const names = identifiers(text);
    for (const [name, allowed] of RUNTIME_GLOBALS) {
      if (names.has(name) && !file.startsWith(allowed)) problems.push(`${file} names ${name}, which only ${allowed} may`);
    }
    const targets: string[] = [];
    for (const spec of specifiers(text)) {
      if (!spec.startsWith('.')) {
        const allowed = TRANSPORT_ONLY.get(spec);
        if (allowed !== undefined && !file.startsWith(allowed)) problems.push(`${file} imports ${spec}, which only ${allowed} may`);
        continue;
      }
      const target = relative('/', resolve('/', dirname(file), spec)).replace(/\.js$/, '.ts');
      if (!sources.has(target)) {
        problems.push(`${file} imports ${spec}, which is not a file of src`);
        continue;
      }
      targets.push(target);
      const to = layerOf(target);
      if (to === 'index') problems.push(`${file} → ${target}: nothing imports the public index`);
      else if (typeof from === 'number' && typeof to === 'number' && to > from) problems.push(`${file} (${LAYERS[from]}) → ${target} (${LAYERS[to]}): against the direction`);
    }
    edges.set(file, targets);
  }
  for (const circle of circles(edges)) problems.push(`circle: ${circle.join(' → ')}`);
  return problems;
}

/** Each import circle once (a depth-first search; a back edge closes a circle). */
function circles(edges: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of edges.get(file) ?? []) {
      const s = state.get(next);
      if (s === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (s === undefined) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...edges.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}

describe('packages/server/src in layers', () => {
  it('every file imports only from its own layer or below, type imports included; no circles; only the Node transport imports ws, only the Bun and Deno transports name Bun and Deno', () => {
    const sources = readSources(SRC);
    // Every layer holds files, so a wrong SRC or an empty read cannot pass.
    for (const layer of LAYERS) expect([...sources.keys()].some((file) => file.startsWith(`${layer}/`)), layer).toBe(true);
    expect(layerViolations(sources)).toEqual([]);
  });

  it('the check finds an arrow against the direction, a type-only one, a dynamic one, a circle within a layer, ws above the transport, and Bun outside its transport', () => {
    const sources: Sources = new Map([
      ['index.ts', `export * from './app/a.js';`],
      ['leaves/up.ts', `import { A } from '../app/a.js';`],
      ['channels/typed.ts', `import type { Socket } from '../connection/s.js';`],
      ['transport/dynamic.ts', `export async function f() { return import('../lifeline/l.js'); }`],
      ['connection/s.ts', `import { L } from './t.js';\nexport class Socket {}`],
      ['connection/t.ts', `export { Socket } from './s.js';`],
      ['lifeline/l.ts', `import WebSocket from 'ws';`],
      ['transport/bun/b.ts', `export const serve = (globalThis as { Bun?: unknown }).Bun; // Deno in a comment`],
      ['transport/deno/d.ts', `export const serve = Bun.serve; export const s = 'Deno in a string';`],
      ['app/a.ts', `import { L } from '../lifeline/l.js';`],
      ['stray.ts', ``],
    ]);
    const problems = layerViolations(sources);
    expect(problems).toContain('leaves/up.ts (leaves) → app/a.ts (app): against the direction');
    expect(problems).toContain('channels/typed.ts (channels) → connection/s.ts (connection): against the direction');
    expect(problems).toContain('transport/dynamic.ts (transport) → lifeline/l.ts (lifeline): against the direction');
    expect(problems).toContain('circle: connection/s.ts → connection/t.ts → connection/s.ts');
    expect(problems).toContain('lifeline/l.ts imports ws, which only transport/node/ may');
    expect(problems).toContain('stray.ts is in no layer (leaves, transport, channels, connection, lifeline, app)');
    expect(problems).toContain('transport/deno/d.ts names Bun, which only transport/bun/ may');
    expect(problems).toHaveLength(7);
  });
});
