/**
 * Builds the web view (index.html + src/) into web/dist, which locus serves at `/`
 * (src/http/routes/web.ts). `npm run build:web`; `npm run dev:web` serves it with hot reload
 * and forwards the API to a locus on 127.0.0.1:7480 (LOCUS_URL to change).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  clearScreen: false,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Every browser that runs es2022 supports modulepreload: no polyfill in the bundle.
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
  server: {
    proxy: { '/v1': process.env.LOCUS_URL ?? 'http://127.0.0.1:7480' },
  },
});
