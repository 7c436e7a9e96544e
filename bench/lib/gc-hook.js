// Preloaded into every Node target (`node --expose-gc --import <this file>`):
// SIGUSR2 runs a full garbage collection, so the idle-memory scenario can
// measure RSS after GC without any hook inside the server under test.
process.on('SIGUSR2', () => {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
});
