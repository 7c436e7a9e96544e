/** lifeline serve --tls-cert/--tls-key: https:// and wss:// with a self-signed certificate made by openssl. */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLI, spawnServe, stopProcess, type ServeProcess } from '../../../test/support/servers.js';
import { ensureDebianPackage, fileExists } from '../../../test/support/system-packages.js';

let dir = '';
let cert: Buffer;
let proc: ServeProcess | undefined;

beforeAll(() => {
  ensureDebianPackage('openssl', fileExists('/usr/bin/openssl'));
  dir = mkdtempSync(join(tmpdir(), 'lifeline-tls-'));
  // A one-day self-signed certificate for 127.0.0.1.
  execFileSync('/usr/bin/openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  cert = readFileSync(join(dir, 'cert.pem'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await stopProcess(proc);
  proc = undefined;
});

describe('lifeline serve over TLS', () => {
  it('serves wss:// and https://, trusted through the certificate; a client that does not trust it is refused by TLS', async () => {
    proc = await spawnServe(['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')]);
    expect(proc.stdout.join('\n')).toMatch(/listening on https:\/\/127\.0\.0\.1:\d+/);
    expect(proc.stdout.join('\n')).toMatch(/echo +wss:\/\/127\.0\.0\.1:\d+\/echo/);

    const raw = new WebSocket(proc.wsUrl('/echo'), { ca: cert });
    await once(raw, 'open');
    raw.send('over tls');
    const [echo] = await once(raw, 'message');
    expect((echo as Buffer).toString()).toBe('over tls');
    raw.close();

    const health = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      get(proc!.httpUrl('/healthz'), { ca: cert }, (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body }));
      }).on('error', reject);
    });
    expect(health).toEqual({ status: 200, body: '{"status":"ok"}' });

    // A client that does not trust the certificate is refused by TLS, not by us.
    const untrusting = new WebSocket(proc.wsUrl('/echo'));
    const [error] = await once(untrusting, 'error');
    expect((error as Error).message).toMatch(/self.signed|certificate/i);
  });

  it('a certificate without its key, or a file that cannot be read, is bad usage (exit 2)', async () => {
    const run = (args: string[]) => {
      try {
        execFileSync(process.execPath, [CLI, 'serve', '--port', '0', ...args], { stdio: 'pipe', timeout: 10_000 });
        return { code: 0, stderr: '' };
      } catch (error) {
        const e = error as { status: number; stderr: Buffer };
        return { code: e.status, stderr: e.stderr.toString() };
      }
    };
    expect(run(['--tls-cert', join(dir, 'cert.pem')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/both --tls-cert and --tls-key/) });
    expect(run(['--tls-cert', join(dir, 'missing.pem'), '--tls-key', join(dir, 'key.pem')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/Cannot read the TLS certificate/) });
  });
});
