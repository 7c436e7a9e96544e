// Preloaded into every Node target (`node --expose-gc --import <this file>`):
// SIGUSR2 runs a full garbage collection, so the idle-memory scenarios can
// measure RSS after GC without any hook inside the server under test. After
// the collection it prints one line on stderr,
//   @gc {"seq":N,"rss":…,"heapUsed":…,"external":…,"arrayBuffers":…}
// (bytes, from process.memoryUsage(); seq counts the collections), which the
// runner reads as a second, less noisy view of the same memory
// (lib/target.js fullGc).
let collections = 0;
process.on('SIGUSR2', () => {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  collections++;
  process.stderr.write(`@gc ${JSON.stringify({ seq: collections, rss, heapUsed, external, arrayBuffers })}\n`);
});
