#!/usr/bin/env node
// Entry point of the `plexus` command (the package's `bin` and `npm start`). The TypeScript
// sources are compiled to dist/ by the package's `prepare` script, which npm runs on `npm install`.
//
// This file is CommonJS (bin/package.json says so) on purpose: it must set UV_THREADPOOL_SIZE
// before anything starts libuv's thread pool, and the ES-module loader starts it while loading
// the entry itself. node-llama-cpp runs every decode step in that pool; with its default 4
// threads, a llama.cpp build that uses OpenMP gets one OpenMP team per pool thread and its
// barriers stop spinning, which costs ~30 % of decode speed at 2 threads (bench/README.md,
// findings 3 and 4). One thread serialises pool work, so Plexus keeps its own slow pool users
// (the cabinet KDF) in worker threads. A value set by the user is left alone.
'use strict'
const { existsSync } = require('node:fs')
const { join } = require('node:path')
const { pathToFileURL } = require('node:url')

if (process.env.UV_THREADPOOL_SIZE == null || process.env.UV_THREADPOOL_SIZE === '') {
  process.env.UV_THREADPOOL_SIZE = '1'
}

const main = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js')
if (!existsSync(main)) {
  process.stderr.write('plexus: dist/ is missing; run `npm install` (or `npm run build`) in the project folder first.\n')
  process.exit(1)
}
import(pathToFileURL(main).href).catch((err) => {
  process.stderr.write(`plexus: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
