/**
 * What the published `@lifeline/server` types show: no member marked `@internal` (the
 * package builds with stripInternal), and what is left type-checks in a strict consumer
 * that checks library files too (skipLibCheck off). Reads the built dist/, which `npm test`
 * builds first.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../dist', import.meta.url));
const HERE = fileURLToPath(new URL('.', import.meta.url));

function declarationFiles(): string[] {
  if (!existsSync(join(DIST, 'index.d.ts'))) throw new Error(`${DIST}/index.d.ts is missing: run npm run build first`);
  return readdirSync(DIST, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Type-checks `source` as a consumer file beside the tests (so `@lifeline/server` resolves to the built package), strictly and with skipLibCheck off. */
function diagnosticsOf(source: string): string[] {
  const file = join(HERE, '__consumer__.ts');
  const options: ts.CompilerOptions = {
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? `${d.file.fileName}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

const CONSUMER = `
import { createApp, MemoryBroker, type Socket, type SessionSocket, type AppStats } from '@lifeline/server';
const app = createApp({ logger: 'silent', broker: new MemoryBroker() });
app.ws('/echo', { lifeline: true }, (socket: Socket) => socket.on('message', (m) => socket.send(m)));
export const stats: () => AppStats = () => app.stats();
export type Session = SessionSocket;
`;

describe('the published types', () => {
  it('hold no @internal member', () => {
    const files = declarationFiles();
    expect(files.length).toBeGreaterThan(10);
    const leaking = files.filter((file) => readFileSync(file, 'utf8').includes('@internal'));
    expect(leaking).toEqual([]);
  });

  // One program (checking every library file takes seconds): the only errors are the two uses of internal members.
  it('type-check in a strict consumer that checks library files (skipLibCheck off), which sees no internal member', { timeout: 180_000 }, () => {
    const problems = diagnosticsOf(`${CONSUMER}\nexport const f = (s: Socket) => { s.closeConnection(1000, ''); s.writeFrame('x', false); };\n`);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/__consumer__\.ts: Property 'closeConnection' does not exist on type 'Socket'/);
    expect(problems[1]).toMatch(/__consumer__\.ts: Property 'writeFrame' does not exist on type 'Socket'/);
  });
});
