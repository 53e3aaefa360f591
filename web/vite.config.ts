import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The operators' dashboard, built into dist/web and served by `domicile up` at /dashboard/.
// Everything it needs (the world map included) is bundled: nothing is loaded from elsewhere.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/dashboard/',
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    reportCompressedSize: true,
    target: 'es2022',
  },
});
