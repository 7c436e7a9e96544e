import { expect, test } from 'vitest';
import {
  measureBundleSize,
  measureChannelsBundleSize,
  measureLifelineBundleSize,
  measurePersistBundleSize,
  measureSharedBundleSize,
  measureSharedWorkerBundleSize,
} from '../scripts/bundle-size.mjs';

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
  // both ways, refuses what the server would close the connection for before sending it, and
  // has the hooks a persistent store plugs into (13.77 KiB; 13.34 KiB before them, 13.66 KiB
  // before acknowledgements held to what the store records), and JSON mode's binary form
  // (PROTOCOL.md §2.8: its encoder, its decoder with every check of §2.8 R5, the size of the
  // text form a replay may need; 14.45 KiB, +0.7 KiB).
  expect(withMode.gzipBytes).toBeLessThan(14.5 * 1024);
});

test('with channels too: the figure README.md and docs/client.md give (16.6 KiB min+gz) holds', async () => {
  const withChannels = await measureChannelsBundleSize();
  console.log(`with Lifeline mode and channels: ${withChannels.gzipBytes} B min+gz`);
  expect(withChannels.code).toContain('LL_TOO_MANY_CHANNELS');
  expect(withChannels.gzipBytes).toBeLessThan(16.65 * 1024); // what rounds to 16.6
});

test('the persistent store and the shared connection have their own entry points: neither the raw nor the Lifeline-mode bundle holds them, and what each adds is bounded', async () => {
  const [raw, withMode, withStore, withShared, worker] = await Promise.all([
    measureBundleSize(),
    measureLifelineBundleSize(),
    measurePersistBundleSize(),
    measureSharedBundleSize(),
    measureSharedWorkerBundleSize(),
  ]);
  console.log(
    `bundle sizes (min+gz): raw-mode core ${raw.gzipBytes} B; Lifeline mode ${withMode.gzipBytes} B; ` +
      `persistent store (/persist) +${withStore.gzipBytes - withMode.gzipBytes} B over Lifeline mode; ` +
      `one connection for all tabs (/shared) +${withShared.gzipBytes - withMode.gzipBytes} B; SharedWorker script (/shared-worker) ${worker.gzipBytes} B`,
  );
  // IndexedDB's quota error is only in the store; the leader's lock only in the shared connection.
  for (const bundle of [raw, withMode]) {
    expect(bundle.code).not.toContain('QuotaExceededError');
    expect(bundle.code).not.toContain('lifeline:leader:');
  }
  expect(withStore.code).toContain('QuotaExceededError');
  expect(withStore.code).not.toContain('lifeline:leader:');
  expect(withShared.code).toContain('lifeline:leader:');
  expect(worker.code).toContain('onconnect');
  expect(withStore.gzipBytes - withMode.gzipBytes).toBeLessThan(3 * 1024);
  // The shared connection brings the hub a leader tab runs: the store and channels included,
  // and the other tabs' confirmations that hold the leader's position back (10.4 KiB with the checks of every tab message; 9.1 before the confirmations).
  expect(withShared.gzipBytes - withMode.gzipBytes).toBeLessThan(10.5 * 1024);
  // The worker runs the whole client (Lifeline mode, its bounds checks, channels, the store) and the hub: 22.2 KiB.
  expect(worker.gzipBytes).toBeLessThan(22.5 * 1024); // 21.5 KiB until the hub checked every tab message's fields (+0.3 KiB), 21.8 until JSON mode's binary form (+0.4 KiB)
});
