// Preloaded into every target (lib/target.js): on Node `node --expose-gc --import <this
// file>`, on Bun `bun --preload <this file>`, on Deno `deno run --v8-flags=--expose-gc
// --preload <this file>`. SIGUSR2 runs a full garbage collection (Node and Deno: V8's gc()
// twice; Bun: Bun.gc(true), a synchronous full collection of JavaScriptCore's heap), so the
// idle-memory scenarios can measure RSS after GC without any hook inside the server under
// test. After the collection it prints one line on stderr,
//   @gc {"seq":N,"rss":…,"heapUsed":…,"external":…,"arrayBuffers":…}
// (bytes, from process.memoryUsage(), which all three runtimes have; a field a runtime does
// not report is left out; seq counts the collections), which the runner reads as a second,
// less noisy view of the same memory (lib/target.js fullGc).
import process from 'node:process';

const collect = () => {
  if (typeof globalThis.Bun?.gc === 'function') {
    globalThis.Bun.gc(true);
  } else if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
};

let collections = 0;
process.on('SIGUSR2', () => {
  collect();
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  collections++;
  process.stderr.write(`@gc ${JSON.stringify({ seq: collections, rss, heapUsed, external, arrayBuffers })}\n`);
});
