/** lifeline serve --api-key: POST /api/publish reaches Lifeline subscribers of its routes. */
import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { CLI, spawnServe, stopProcess, type ServeProcess } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

const KEY = 'publish-key-0123456789';

let proc: ServeProcess | undefined;
let client: LifelineTestClient | undefined;
afterEach(async () => {
  client?.close();
  await stopProcess(proc);
  proc = client = undefined;
});

describe('lifeline serve: POST /api/publish', () => {
  it('--api-key serves it; a Lifeline client of /echo subscribed to the channel gets the publication', async () => {
    proc = await spawnServe(['--api-key', KEY]);
    expect(proc.stdout.join('\n')).toMatch(/publish +POST http:\/\/127\.0\.0\.1:\d+\/api\/publish/);
    client = new LifelineTestClient(proc.wsUrl('/echo'));
    await client.connect();
    await client.request('$subscribe', { ch: 'results' });
    const response = await fetch(proc.httpUrl('/api/publish'), {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel: 'results', data: { step: 1 } }),
    });
    expect(response.status).toBe(200);
    await waitFor(() => client!.publications.length === 1, 'the publication');
    expect(client.publications[0]).toMatchObject({ ch: 'results', o: 1, d: { step: 1 } });
    expect(proc.stdout.join('\n') + proc.stderr.join('\n')).not.toContain(KEY);
  });

  it('without a key there is no endpoint (404)', async () => {
    proc = await spawnServe();
    const response = await fetch(proc.httpUrl('/api/publish'), { method: 'POST', body: '{}' });
    expect(response.status).toBe(404);
  });

  it('a key shorter than 16 characters is bad usage (exit 2), not repeated in the message', async () => {
    const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'serve', '--port', '0', '--api-key', 'short-key'], { timeout: 10_000 }, (error, _stdout, stderr) =>
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, stderr }),
      );
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/at least 16 characters/);
    expect(result.stderr).not.toContain('short-key');
  });
});
