import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

// Served by `lifeline serve` at /console/ (packages/cli/src/static-app.ts), which caches
// everything under assets/ (content-hashed names) for a year and revalidates the rest.
// Two pages: the console, and sim.html, the realm the chaos scenario's virtual clients run in.
export default defineConfig({
  base: '/console/',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    rollupOptions: {
      input: { main: 'index.html', sim: 'sim.html' },
    },
  },
});
