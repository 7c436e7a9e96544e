import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, spawnServe, stopProcess, type ServeProcess } from '../../../test/support/servers.js';
import { ensureDebianPackage, fileExists } from '../../../test/support/system-packages.js';

/** `lifeline serve --help` as a person sees it: wrapped to the terminal, every route listed. */

const SCRIPT = '/usr/bin/script'; // util-linux: runs a command on a pseudo-terminal

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60_000 }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)));
  });
}

/** The help's lines as a terminal of `columns` columns gets them (stdout is a real pty). */
async function helpOnTerminal(columns: number): Promise<string[]> {
  ensureDebianPackage('bsdutils', fileExists(SCRIPT));
  const command = `stty cols ${columns} rows 50 && '${process.execPath}' '${CLI}' serve --help`;
  const out = await run(SCRIPT, ['--quiet', '--return', '--command', command, '/dev/null']);
  return out.split(/\r?\n/).slice(0, -1);
}

const widest = (lines: string[]) => Math.max(...lines.map((l) => [...l].length));

let server: ServeProcess | undefined;
afterEach(async () => {
  await stopProcess(server);
  server = undefined;
});

describe('lifeline serve --help', { timeout: 120_000 }, () => {
  it('is wrapped to 80 columns when stdout is not a terminal', async () => {
    const lines = (await run(process.execPath, [CLI, 'serve', '--help'])).split('\n');
    expect(lines.length).toBeGreaterThan(40);
    expect(lines.filter((l) => [...l].length > 80)).toEqual([]);
    expect(widest(lines)).toBeGreaterThan(72); // it uses the width, not some narrower fixed one
  });

  it('is wrapped to the terminal: 60 and 120 columns', async () => {
    const narrow = await helpOnTerminal(60);
    expect(narrow.filter((l) => [...l].length > 60)).toEqual([]);
    expect(widest(narrow)).toBeGreaterThan(52);
    const wide = await helpOnTerminal(120);
    expect(wide.filter((l) => [...l].length > 120)).toEqual([]);
    expect(widest(wide)).toBeGreaterThan(100);
    // The same words either way.
    const words = (lines: string[]) => lines.join(' ').split(/\s+/).filter(Boolean);
    expect(words(wide)).toEqual(words(narrow));
  });

  it('on a terminal too narrow for two columns, puts each option\'s text under it', async () => {
    const lines = await helpOnTerminal(40);
    expect(lines.filter((l) => [...l].length > 40)).toEqual([]);
    expect(lines).toContain('  --rate-limit-message-burst N');
  });

  it('lists every route the server answers, /healthz, /readyz and /metrics included', async () => {
    const help = await run(process.execPath, [CLI, 'serve', '--help']);
    const listed = [...help.matchAll(/^ {2}(GET|POST|ws) (\/\S*)/gm)].map(([, method, path]) => `${method} ${path}`).sort();
    // A server with every optional route on (the publish endpoint needs an API key).
    server = await spawnServe(['--api-key', 'a-key-of-sixteen-chars']);
    const stats = (await (await fetch(server.httpUrl('/api/stats'))).json()) as { routes: { ws: { path: string }[]; http: { path: string; methods: string[] }[] } };
    const served = [
      ...stats.routes.ws.map((r) => `ws ${r.path}`),
      ...stats.routes.http.map((r) => `${r.methods.includes('GET') ? 'GET' : r.methods[0]} ${r.path.replace(/\*$/, '')}`),
    ].sort();
    expect(served).toEqual(expect.arrayContaining(['GET /healthz', 'GET /readyz', 'GET /metrics']));
    expect(listed).toEqual(served);
  });
});
