import { expect, test } from 'vitest';
import { measureBundleSize, measureChannelsBundleSize, measureLifelineBundleSize } from '../scripts/bundle-size.mjs';

/** The client alone in a browser bundle: under 5.1 KiB minified + gzipped, with every feature (5 KiB until client probes, PROTOCOL.md §2.5). */

test('browser bundle: under 5.1 KiB min+gz, and no ws or Node built-ins in it', async () => {
  const { bytes, gzipBytes, inputs, code } = await measureBundleSize();
  console.log(`@lifeline/client browser bundle: ${bytes} B minified, ${gzipBytes} B min+gz`);
  expect(gzipBytes).toBeLessThan(5.1 * 1024);
  expect(inputs.filter((i) => /node_modules|websocket-node|node:/.test(i))).toEqual([]);
  expect(code).not.toMatch(/require\(|from\s*["']ws["']|node:/);
  // The features are in it (not tree-shaken away): backoff, policy, heartbeat, outbox, codecs.
  for (const marker of ['retry-after=', 'LL_HEARTBEAT_TIMEOUT', 'drop-oldest', 'LL_INVALID_JSON', 'pagehide', 'visibilitychange']) {
    expect(code).toContain(marker);
  }
});

test('Lifeline mode is not in the raw bundle, and comes with its own entry point', async () => {
  const raw = await measureBundleSize();
  const withMode = await measureLifelineBundleSize();
  console.log(`with Lifeline mode: ${withMode.gzipBytes} B min+gz`);
  // The envelope codec and the session are only in the Lifeline bundle.
  expect(raw.code).not.toContain('"t":"m"');
  expect(withMode.code).toContain('"t":"m"');
  for (const marker of ['LL_SESSION_RESET', 'LL_REQUEST_TIMEOUT', 'welcome.rx']) {
    expect(raw.code).not.toContain(marker);
    expect(withMode.code).toContain(marker);
  }
  // socket.io-client is 13.1 KiB bundled the same way (npm run bench); Lifeline mode is a
  // little more since it checks every envelope's bounds and content rules (PROTOCOL.md §2.1)
  // both ways, and refuses what the server would close the connection for before sending it.
  expect(withMode.gzipBytes).toBeLessThan(13.5 * 1024);
});

test('with channels too: the figure README.md and docs/client.md give (15.5 KiB min+gz) holds', async () => {
  const withChannels = await measureChannelsBundleSize();
  console.log(`with Lifeline mode and channels: ${withChannels.gzipBytes} B min+gz`);
  expect(withChannels.code).toContain('LL_TOO_MANY_CHANNELS');
  expect(withChannels.gzipBytes).toBeLessThan(15.55 * 1024); // what rounds to 15.5
});
