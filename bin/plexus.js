#!/usr/bin/env node
// Entry point of the `plexus` command. The TypeScript sources are compiled to dist/ by the
// package's `prepare` script, which npm runs on `npm install`.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const main = new URL('../dist/src/cli/main.js', import.meta.url)
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('plexus: dist/ is missing; run `npm install` (or `npm run build`) in the project folder first.\n')
  process.exit(1)
}
await import(main.href)
