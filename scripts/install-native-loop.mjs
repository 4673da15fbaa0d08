#!/usr/bin/env node
// Run by `npm install` (the prepare script, after the build): builds Plexus's native generation
// loop (~10 s; README "The native generation loop") when this machine has the tools. It never fails
// the install: without the loop, generations run on node-llama-cpp's own loop, only slower.
// PLEXUS_NATIVE_LOOP=false skips it.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..')
if (process.env.PLEXUS_NATIVE_LOOP === 'false' || process.env.PLEXUS_NATIVE_LOOP === '0') process.exit(0)
const r = spawnSync(process.execPath, [join(root, 'bin', 'plexus.js'), 'engine', 'build', '--native-loop'], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'pipe'],
  encoding: 'utf8'
})
if (r.status !== 0) {
  const why = (r.stderr ?? '').trim().split('\n').pop() ?? `exit ${r.status}`
  console.warn(`plexus: the native generation loop was not built (${why}).\nGenerations use node-llama-cpp's loop; run \`npx plexus engine build --native-loop\` to try again.`)
}
