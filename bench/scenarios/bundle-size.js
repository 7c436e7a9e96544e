// Browser bundle size of @lifeline/client (its browser entry with @lifeline/protocol,
// esbuild minify, gzip -9, every export kept) next to socket.io-client bundled the same
// way, so the two numbers come from one method in one run.
import { fileURLToPath } from 'node:url';
import { bundleForBrowser, measureBundleSize } from '../../packages/client/scripts/bundle-size.mjs';

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
    const rows = [
      ['@lifeline/client', lifeline],
      ['socket.io-client', socketio],
    ];
    const table = [
      `${'package'.padEnd(20)}${'minified'.padStart(12)}${'min+gz'.padStart(12)}`,
      ...rows.map(([name, r]) => `${name.padEnd(20)}${kib(r.bytes).padStart(12)}${kib(r.gzipBytes).padStart(12)}`),
      `@lifeline/client is ${(lifeline.gzipBytes / socketio.gzipBytes).toFixed(2)}x socket.io-client; target < ${kib(TARGET_GZIP_BYTES)}: ` +
        (lifeline.gzipBytes < TARGET_GZIP_BYTES ? 'met' : 'NOT met'),
    ].join('\n   ');
    return {
      lifeline: { bytes: lifeline.bytes, gzipBytes: lifeline.gzipBytes },
      'socket.io-client': { bytes: socketio.bytes, gzipBytes: socketio.gzipBytes },
      targetGzipBytes: TARGET_GZIP_BYTES,
      table,
    };
  },
};
