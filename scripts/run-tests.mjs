#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with Node's test runner. Node 20 does not
// expand globs in `node --test` arguments, so the files are listed here. Optional arguments filter
// by substring: `npm test -- api` runs the files whose path contains "api".
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { spawnSync } from 'node:child_process'

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..')
const testDir = join(root, 'dist', 'test')

function walk (dir) {
  return readdirSync(dir).flatMap(name => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : (p.endsWith('.test.js') ? [p] : [])
  })
}

const filters = process.argv.slice(2)
const files = walk(testDir).filter(f => filters.length === 0 || filters.some(s => relative(root, f).includes(s))).sort()
if (files.length === 0) {
  console.error('no test files matched')
  process.exit(1)
}
// Two files at a time: each llama.cpp evaluation uses one thread and CI has two cores.
const concurrency = process.env.PLEXUS_TEST_CONCURRENCY ?? '2'
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, PLEXUS_LOG_LEVEL: process.env.PLEXUS_LOG_LEVEL ?? 'silent' }
})
process.exit(r.status ?? 1)
