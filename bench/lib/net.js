// Free ports and readiness checks on 127.0.0.1.
import net from 'node:net';

export const HOST = '127.0.0.1';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A sleep that can be cut short: `const s = cancellableSleep(ms); …; s.cancel()`. */
export function cancellableSleep(ms) {
  let timer;
  const promise = new Promise((r) => (timer = setTimeout(r, ms)));
  promise.cancel = () => clearTimeout(timer);
  return promise;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Poll until the port accepts TCP connections; throws after timeoutMs. */
export async function waitForPort(port, child, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited before listening (code ${child.exitCode}): ${child.output.stderr.slice(-500)}`);
    }
    if (await canConnect(port)) return;
    await sleep(50);
  }
  throw new Error(`port ${port} not ready after ${timeoutMs} ms`);
}
