import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { localBuilds } from '../../src/inference/engine-build.js'
import { plexus } from '../helpers/cli.js'

interface EngineStatus {
  binary: string
  llamaCpp: string
  uvThreadpoolSize: number
  localBuilds: Array<{ name: string, dir: string }>
  buildTools: Array<{ name: string, version: string | null, problem: string | null }>
}

describe('plexus engine', () => {
  it('status tells which llama.cpp binary a node uses and that the launcher set a one-thread libuv pool', () => {
    // Execute
    const env = { UV_THREADPOOL_SIZE: '' }
    const r = plexus(['engine', 'status', '--json'], env)

    // Assert
    assert.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout) as EngineStatus
    assert.equal(s.binary, localBuilds().length > 0 ? 'local build' : 'prebuilt')
    assert.match(s.llamaCpp, /\S/)
    assert.equal(s.uvThreadpoolSize, 1)
    assert.deepEqual(s.buildTools.map(t => t.name), ['git', 'cmake', 'c++ compiler'])
  })

  it('leaves a libuv pool size set by the user alone', () => {
    // Execute
    const r = plexus(['engine', 'status', '--json'], { UV_THREADPOOL_SIZE: '3' })

    // Assert
    assert.equal(r.code, 0, r.stderr)
    assert.equal((JSON.parse(r.stdout) as EngineStatus).uvThreadpoolSize, 3)
  })

  it('build refuses with one clear error, and changes nothing, when the build tools are missing', () => {
    // Prepare
    const before = localBuilds()

    // Execute: no tool can be found on this PATH (the CLI itself runs from process.execPath).
    const r = plexus(['engine', 'build', '--force', '--json'], { PATH: '/nonexistent', CXX: '' })

    // Assert
    assert.equal(r.code, 1)
    const err = JSON.parse(r.stderr.trim().split('\n').pop() ?? '{}') as { error: { code: string, message: string } }
    assert.equal(err.error.code, 'PLX_ERR_ENGINE_BUILD')
    assert.match(err.error.message, /git: not found.*cmake: not found.*c\+\+ compiler/)
    assert.equal(r.stdout, '')
    assert.deepEqual(localBuilds(), before)
  })
})
