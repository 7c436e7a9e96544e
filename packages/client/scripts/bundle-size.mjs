#!/usr/bin/env node
// Size of @lifeline/client in a browser bundle: the built browser entry (dist/index.js,
// resolved with the "browser" condition, so `ws` is never pulled in) bundled with
// @lifeline/protocol by esbuild, minified, then gzipped at level 9. Every export is kept,
// so this is the whole client, not what one app would tree-shake it to.
//   node packages/client/scripts/bundle-size.mjs          prints the sizes
//   import { measureBundleSize } from '.../bundle-size.mjs'  → { bytes, gzipBytes, inputs }
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ENTRY = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/**
 * Bundles for browsers with esbuild (minify, ESM, es2022) and gzips at level 9.
 * `input` is esbuild's entryPoints or stdin; the bench bundles other packages the same way.
 * @returns {Promise<{ bytes: number, gzipBytes: number, inputs: string[], code: string }>}
 */
export async function bundleForBrowser(input) {
  const result = await build({
    ...input,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].text;
  const bytes = Buffer.byteLength(code);
  const gzipBytes = gzipSync(code, { level: 9 }).length;
  return { bytes, gzipBytes, inputs: Object.keys(result.metafile.inputs), code };
}

/** @returns {Promise<{ bytes: number, gzipBytes: number, inputs: string[], code: string }>} */
export function measureBundleSize({ entry = ENTRY } = {}) {
  return bundleForBrowser({ entryPoints: [entry] });
}

const LIFELINE_ENTRY = fileURLToPath(new URL('../dist/lifeline.js', import.meta.url));

/**
 * The client with Lifeline mode: the main entry and `@lifeline/client/lifeline` (JSON
 * envelopes), every export of both kept, bundled together.
 * @returns {Promise<{ bytes: number, gzipBytes: number, inputs: string[], code: string }>}
 */
export function measureLifelineBundleSize() {
  return bundleForBrowser({
    stdin: { contents: `export * from ${JSON.stringify(ENTRY)}; export * from ${JSON.stringify(LIFELINE_ENTRY)};`, resolveDir: fileURLToPath(new URL('..', import.meta.url)), sourcefile: 'lifeline-bundle.js' },
  });
}

const CHANNELS_ENTRY = fileURLToPath(new URL('../dist/channels.js', import.meta.url));

/**
 * Lifeline mode with channels: the main entry, `@lifeline/client/lifeline` and
 * `@lifeline/client/channels`, every export of the three kept.
 * @returns {Promise<{ bytes: number, gzipBytes: number, inputs: string[], code: string }>}
 */
export function measureChannelsBundleSize() {
  const contents = [ENTRY, LIFELINE_ENTRY, CHANNELS_ENTRY].map((entry) => `export * from ${JSON.stringify(entry)};`).join(' ');
  return bundleForBrowser({ stdin: { contents, resolveDir: fileURLToPath(new URL('..', import.meta.url)), sourcefile: 'channels-bundle.js' } });
}

/**
 * Built entry points of this package (`index`, `lifeline`, `persist`, …), every export of
 * each kept, bundled together.
 * @param {string[]} names
 * @returns {Promise<{ bytes: number, gzipBytes: number, inputs: string[], code: string }>}
 */
export function measureEntries(names) {
  const contents = names.map((name) => `export * from ${JSON.stringify(fileURLToPath(new URL(`../dist/${name}.js`, import.meta.url)))};`).join(' ');
  return bundleForBrowser({ stdin: { contents, resolveDir: fileURLToPath(new URL('..', import.meta.url)), sourcefile: `${names.join('+')}.js` } });
}

/** Lifeline mode with the persistent store: the main entry, `/lifeline` and `/persist`. */
export const measurePersistBundleSize = () => measureEntries(['index', 'lifeline', 'persist']);

/**
 * Lifeline mode with one connection for all tabs: the main entry, `/lifeline` and `/shared`
 * (which holds the hub a leader tab runs, with the store and channels it needs).
 */
export const measureSharedBundleSize = () => measureEntries(['index', 'lifeline', 'shared']);

/** The SharedWorker script's library part: `/shared-worker` alone (it brings the client, Lifeline mode, the store and channels). */
export const measureSharedWorkerBundleSize = () => measureEntries(['shared-worker']);

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const kib = (n) => (n / 1024).toFixed(2);
  const raw = await measureBundleSize();
  const withMode = await measureLifelineBundleSize();
  const withChannels = await measureChannelsBundleSize();
  const withStore = await measurePersistBundleSize();
  const withShared = await measureSharedBundleSize();
  const worker = await measureSharedWorkerBundleSize();
  const added = (b) => `+${b.gzipBytes - withMode.gzipBytes} B over Lifeline mode`;
  process.stdout.write(
    `@lifeline/client browser bundle: ${raw.bytes} bytes minified (${kib(raw.bytes)} KiB), ${raw.gzipBytes} bytes min+gz (${kib(raw.gzipBytes)} KiB)\n` +
      `  inputs: ${raw.inputs.map((i) => i.replace(/^.*?packages\//, '')).join(', ')}\n` +
      `with Lifeline mode (+ @lifeline/client/lifeline): ${withMode.bytes} bytes minified, ${withMode.gzipBytes} bytes min+gz (${kib(withMode.gzipBytes)} KiB)\n` +
      `with channels (+ @lifeline/client/channels): ${withChannels.bytes} bytes minified, ${withChannels.gzipBytes} bytes min+gz (${kib(withChannels.gzipBytes)} KiB)\n` +
      `with the persistent store (+ @lifeline/client/persist): ${withStore.bytes} bytes minified, ${withStore.gzipBytes} bytes min+gz (${kib(withStore.gzipBytes)} KiB, ${added(withStore)})\n` +
      `with one connection for all tabs (+ @lifeline/client/shared): ${withShared.bytes} bytes minified, ${withShared.gzipBytes} bytes min+gz (${kib(withShared.gzipBytes)} KiB, ${added(withShared)})\n` +
      `the SharedWorker's script (@lifeline/client/shared-worker): ${worker.bytes} bytes minified, ${worker.gzipBytes} bytes min+gz (${kib(worker.gzipBytes)} KiB)\n`,
  );
}
