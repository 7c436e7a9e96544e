import { expect, test } from 'vitest';
import { measureBundleSize } from '../scripts/bundle-size.mjs';

/** The client alone in a browser bundle: under 5 KiB minified + gzipped, with every feature. */

test('browser bundle: under 5 KiB min+gz, and no ws or Node built-ins in it', async () => {
  const { bytes, gzipBytes, inputs, code } = await measureBundleSize();
  console.log(`@lifeline/client browser bundle: ${bytes} B minified, ${gzipBytes} B min+gz`);
  expect(gzipBytes).toBeLessThan(5 * 1024);
  expect(inputs.filter((i) => /node_modules|websocket-node|node:/.test(i))).toEqual([]);
  expect(code).not.toMatch(/require\(|from\s*["']ws["']|node:/);
  // The features are in it (not tree-shaken away): backoff, policy, heartbeat, outbox, codecs.
  for (const marker of ['retry-after=', 'LL_HEARTBEAT_TIMEOUT', 'drop-oldest', 'LL_INVALID_JSON', 'pagehide', 'visibilitychange']) {
    expect(code).toContain(marker);
  }
});
