import { defineConfig } from 'vite'

// The dashboard is built into dist/web, which the node serves at `/` (src/api/web.ts).
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 600
  },
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' }
  }
})
