import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync, mkdirSync, chmodSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir, homedir } from 'node:os'
import { join, resolve, isAbsolute } from 'node:path'
import { resolveDataDir, ensureDataDir, dataDirPaths } from '../../src/node/data-dir.js'

describe('resolveDataDir', () => {
  const env = { PLEXUS_DATA_DIR: '/srv/plexus-env', XDG_DATA_HOME: '/srv/xdg' }

  it('prefers an explicit directory over the environment', () => {
    assert.equal(resolveDataDir('/srv/explicit', env), '/srv/explicit')
  })

  it('resolves a relative explicit directory against the working directory', () => {
    // Execute
    const dir = resolveDataDir('some/dir', env)

    // Assert
    assert.ok(isAbsolute(dir))
    assert.equal(dir, resolve(process.cwd(), 'some/dir'))
  })

  it('uses PLEXUS_DATA_DIR before XDG_DATA_HOME', () => {
    assert.equal(resolveDataDir(undefined, env), '/srv/plexus-env')
    assert.equal(resolveDataDir(undefined, { PLEXUS_DATA_DIR: 'rel/env' }), resolve('rel/env'))
  })

  it('uses $XDG_DATA_HOME/plexus when PLEXUS_DATA_DIR is unset', () => {
    assert.equal(resolveDataDir(undefined, { XDG_DATA_HOME: '/srv/xdg' }), join('/srv/xdg', 'plexus'))
  })

  it('falls back to ~/.local/share/plexus', () => {
    assert.equal(resolveDataDir(undefined, {}), join(homedir(), '.local', 'share', 'plexus'))
  })

  it('treats empty strings as unset', () => {
    assert.equal(resolveDataDir('', { PLEXUS_DATA_DIR: '', XDG_DATA_HOME: '/srv/xdg' }), join('/srv/xdg', 'plexus'))
    assert.equal(resolveDataDir('', { PLEXUS_DATA_DIR: '', XDG_DATA_HOME: '' }), join(homedir(), '.local', 'share', 'plexus'))
  })
})

describe('dataDirPaths', () => {
  it('names every file inside the data directory', () => {
    // Execute
    const paths = dataDirPaths('/srv/plexus')

    // Assert
    assert.deepEqual(paths, {
      root: '/srv/plexus',
      config: '/srv/plexus/config.json',
      identity: '/srv/plexus/identity.json',
      models: '/srv/plexus/models',
      modelRegistry: '/srv/plexus/models.json',
      apiKeys: '/srv/plexus/api-keys.json',
      runtime: '/srv/plexus/node.json'
    })
  })
})

describe('ensureDataDir', () => {
  let parent: string

  beforeEach(() => {
    parent = mkdtempSync(join(tmpdir(), 'plexus-data-dir-'))
  })

  afterEach(() => {
    rmSync(parent, { recursive: true, force: true })
  })

  it('creates the directory and its models folder with mode 0700', () => {
    // Prepare
    const root = join(parent, 'nested', 'plexus')

    // Execute
    const paths = ensureDataDir(root)

    // Assert
    assert.deepEqual(paths, dataDirPaths(root))
    assert.ok(statSync(root).isDirectory())
    assert.equal(statSync(root).mode & 0o777, 0o700)
    assert.ok(statSync(paths.models).isDirectory())
    assert.equal(statSync(paths.models).mode & 0o777, 0o700)
  })

  it('tightens an existing directory to 0700 and keeps its files', () => {
    // Prepare
    const root = join(parent, 'plexus')
    mkdirSync(root)
    chmodSync(root, 0o755)
    writeFileSync(join(root, 'config.json'), '{}')

    // Execute
    ensureDataDir(root)

    // Assert
    assert.equal(statSync(root).mode & 0o777, 0o700)
    assert.equal(readFileSync(join(root, 'config.json'), 'utf8'), '{}')
  })

  it('is idempotent', () => {
    // Prepare
    const root = join(parent, 'plexus')

    // Execute
    const first = ensureDataDir(root)
    const second = ensureDataDir(root)

    // Assert
    assert.deepEqual(second, first)
    assert.equal(statSync(root).mode & 0o777, 0o700)
  })
})
