// Hook point for a future bundle-size measurement (client bundle bytes,
// minified and gzipped). Not implemented yet: selecting it reports "skipped".
export default {
  name: 'bundle-size',
  title: 'Client bundle size',
  once: true,
  async run() {
    return { skipped: 'not implemented yet (hook point for the client bundle measurement)' };
  },
};
