#!/usr/bin/env node
// Runs one compiled benchmark: `node scripts/run-bench.mjs <name> [args...]` runs
// dist/bench/<name>.js with the remaining arguments (`npm run bench -- inference`).
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const benchDir = join(root, 'dist', 'bench')
const [name, ...args] = process.argv.slice(2)

// Benchmarks are the top-level files of dist/bench/; helpers live in dist/bench/lib/.
const runnable = existsSync(benchDir)
  ? readdirSync(benchDir).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3))
  : []

if (name == null || !/^[a-z0-9-]+$/.test(name) || !runnable.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <name> [args]\n  name: one of ${runnable.join(', ') || '(nothing built: run tsc first)'}\n`)
  process.exit(2)
}

const child = spawn(process.execPath, [join(benchDir, `${name}.js`), ...args], { cwd: root, stdio: 'inherit' })
child.on('close', (code, signal) => process.exit(code ?? (signal != null ? 1 : 0)))
