import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

// Served by `lifeline serve` at /demo/ (packages/cli/src/static-app.ts), which caches
// everything under assets/ (content-hashed names) for a year and revalidates the rest.
export default defineConfig({
  base: '/demo/',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // One small page: a size warning would only be noise.
    reportCompressedSize: false,
  },
});
