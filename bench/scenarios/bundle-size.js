// Browser bundle size of @lifeline/client (its browser entry with @lifeline/protocol,
// esbuild minify, gzip -9, every export kept) next to socket.io-client bundled the same
// way, so the two numbers come from one method in one run.
import { fileURLToPath } from 'node:url';
import {
  bundleForBrowser,
  measureBundleSize,
  measureLifelineBundleSize,
  measurePersistBundleSize,
  measureSharedBundleSize,
  measureSharedWorkerBundleSize,
} from '../../packages/client/scripts/bundle-size.mjs';

const TARGET_GZIP_BYTES = 5 * 1024;

function bundlePackage(specifier) {
  return bundleForBrowser({
    stdin: { contents: `export * from '${specifier}';`, resolveDir: fileURLToPath(new URL('../..', import.meta.url)) },
  });
}

const kib = (n) => `${(n / 1024).toFixed(2)} KiB`;

export default {
  name: 'bundle-size',
  title: 'Client bundle size (minified + gzipped, browser build)',
  once: true,
  async run() {
    const lifeline = await measureBundleSize();
    const socketio = await bundlePackage('socket.io-client');
    // Lifeline mode, then each of issue 18's features on top of it (their own entry points).
    const withMode = await measureLifelineBundleSize();
    const withStore = await measurePersistBundleSize();
    const withShared = await measureSharedBundleSize();
    const worker = await measureSharedWorkerBundleSize();
    const rows = [
      ['@lifeline/client', lifeline],
      ['+ /lifeline', withMode],
      ['+ /persist', withStore],
      ['+ /shared', withShared],
      ['/shared-worker', worker],
      ['socket.io-client', socketio],
    ];
    const table = [
      `${'package'.padEnd(20)}${'minified'.padStart(12)}${'min+gz'.padStart(12)}`,
      ...rows.map(([name, r]) => `${name.padEnd(20)}${kib(r.bytes).padStart(12)}${kib(r.gzipBytes).padStart(12)}`),
      `@lifeline/client is ${(lifeline.gzipBytes / socketio.gzipBytes).toFixed(2)}x socket.io-client; target < ${kib(TARGET_GZIP_BYTES)}: ` +
        (lifeline.gzipBytes < TARGET_GZIP_BYTES ? 'met' : 'NOT met'),
      `over Lifeline mode, the persistent store adds ${kib(withStore.gzipBytes - withMode.gzipBytes)}, one connection for all tabs ${kib(withShared.gzipBytes - withMode.gzipBytes)}`,
    ].join('\n   ');
    return {
      lifeline: { bytes: lifeline.bytes, gzipBytes: lifeline.gzipBytes },
      'socket.io-client': { bytes: socketio.bytes, gzipBytes: socketio.gzipBytes },
      lifelineMode: { bytes: withMode.bytes, gzipBytes: withMode.gzipBytes },
      persist: { bytes: withStore.bytes, gzipBytes: withStore.gzipBytes },
      shared: { bytes: withShared.bytes, gzipBytes: withShared.gzipBytes },
      sharedWorker: { bytes: worker.bytes, gzipBytes: worker.gzipBytes },
      targetGzipBytes: TARGET_GZIP_BYTES,
      table,
    };
  },
};
