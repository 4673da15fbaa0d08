import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync, statSync, mkdirSync } from 'node:fs'
import { tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { loadConfig, configFromEnv, writeDefaultConfig, DEFAULT_PORT, ConfigSchema } from '../../src/node/config.js'
import { isPlexusError } from '../../src/errors.js'

let dir: string
let configPath: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'plexus-config-'))
  configPath = join(dir, 'config.json')
})

afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

function writeConfig (value: unknown): void {
  writeFileSync(configPath, typeof value === 'string' ? value : JSON.stringify(value))
}

const configInvalid = (err: unknown): boolean => isPlexusError(err, 'PLX_ERR_CONFIG_INVALID')

describe('loadConfig defaults', () => {
  it('gives the documented defaults when there is no file, environment or flag', () => {
    // Execute
    const config = loadConfig(configPath, {}, {})

    // Assert
    assert.deepEqual(config.api, {
      host: '127.0.0.1',
      port: DEFAULT_PORT,
      bodyLimitBytes: 4 * 1024 * 1024,
      rateLimitPerMinute: 600,
      requireApiKey: false
    })
    assert.equal(DEFAULT_PORT, 11435)
    assert.equal(config.inference.threads, 0)
    assert.equal(config.inference.parallel, 4)
    assert.equal(config.inference.maxQueue, 64)
    assert.equal(config.inference.contextSize, 2048)
    assert.equal(config.inference.memoryBudgetMiB, Math.floor(totalmem() / 1024 / 1024 / 2))
    assert.equal(config.inference.defaultModel, undefined)
  })

  it('fills the keys a file leaves out with defaults', () => {
    // Prepare
    writeConfig({ api: { port: 9000 } })

    // Execute
    const config = loadConfig(configPath, {}, {})

    // Assert
    assert.equal(config.api.port, 9000)
    assert.equal(config.api.host, '127.0.0.1')
    assert.equal(config.inference.parallel, 4)
  })

  it('ignores process.env when an env object is passed', () => {
    // Prepare
    const saved = process.env.PLEXUS_PORT
    process.env.PLEXUS_PORT = '1234'

    try {
      // Execute
      const config = loadConfig(configPath, {}, {})

      // Assert
      assert.equal(config.api.port, DEFAULT_PORT)
    } finally {
      if (saved === undefined) delete process.env.PLEXUS_PORT
      else process.env.PLEXUS_PORT = saved
    }
  })
})

describe('loadConfig precedence', () => {
  it('applies defaults < file < environment < flags', () => {
    // Prepare
    writeConfig({ api: { port: 1000, host: '0.0.0.0' }, inference: { parallel: 2, threads: 3 } })
    const env = { PLEXUS_PORT: '2000', PLEXUS_PARALLEL: '5' }
    const flags = { api: { port: 3000 } }

    // Execute
    const fileOnly = loadConfig(configPath, {}, {})
    const fileAndEnv = loadConfig(configPath, {}, env)
    const all = loadConfig(configPath, flags, env)

    // Assert
    assert.equal(fileOnly.api.port, 1000)
    assert.equal(fileAndEnv.api.port, 2000)
    assert.equal(all.api.port, 3000)
    // Settings that a later source does not name keep the earlier value.
    assert.equal(all.api.host, '0.0.0.0')
    assert.equal(all.inference.parallel, 5)
    assert.equal(all.inference.threads, 3)
    assert.equal(all.api.rateLimitPerMinute, 600)
  })

  it('takes gpuLayers as auto, max or a count, from the file or PLEXUS_GPU_LAYERS, and refuses anything else', () => {
    assert.equal(loadConfig(configPath, {}, {}).inference.gpuLayers, 'auto')
    assert.equal(loadConfig(configPath, {}, { PLEXUS_GPU_LAYERS: '12' }).inference.gpuLayers, 12)
    assert.equal(loadConfig(configPath, {}, { PLEXUS_GPU_LAYERS: 'max' }).inference.gpuLayers, 'max')
    writeConfig({ inference: { gpuLayers: 0 } })
    assert.equal(loadConfig(configPath, {}, {}).inference.gpuLayers, 0)
    assert.throws(() => loadConfig(configPath, {}, { PLEXUS_GPU_LAYERS: 'lots' }), configInvalid)
    writeConfig({ inference: { gpuLayers: -1 } })
    assert.throws(() => loadConfig(configPath, {}, {}), configInvalid)
  })

  it('lets flags override the environment without a file', () => {
    // Execute
    const config = loadConfig(configPath, { inference: { contextSize: 512, defaultModel: 'flag-model' } }, {
      PLEXUS_CONTEXT_SIZE: '1024',
      PLEXUS_DEFAULT_MODEL: 'env-model'
    })

    // Assert
    assert.equal(config.inference.contextSize, 512)
    assert.equal(config.inference.defaultModel, 'flag-model')
  })

  it('treats a flag set to undefined as not given', () => {
    // Prepare
    writeConfig({ api: { port: 1000 } })

    // Execute
    const config = loadConfig(configPath, { api: { port: undefined, host: undefined } }, { PLEXUS_HOST: 'example.local' })

    // Assert
    assert.equal(config.api.port, 1000)
    assert.equal(config.api.host, 'example.local')
  })

  it('reads every PLEXUS_* variable into its setting', () => {
    // Prepare
    const env = {
      PLEXUS_HOST: '0.0.0.0',
      PLEXUS_PORT: '8080',
      PLEXUS_REQUIRE_API_KEY: 'true',
      PLEXUS_THREADS: '6',
      PLEXUS_PARALLEL: '3',
      PLEXUS_CONTEXT_SIZE: '4096',
      PLEXUS_MEMORY_BUDGET_MIB: '2048',
      PLEXUS_DEFAULT_MODEL: 'stories260K'
    }

    // Execute
    const config = loadConfig(configPath, {}, env)

    // Assert
    assert.equal(config.api.host, '0.0.0.0')
    assert.equal(config.api.port, 8080)
    assert.equal(config.api.requireApiKey, true)
    assert.equal(config.inference.threads, 6)
    assert.equal(config.inference.parallel, 3)
    assert.equal(config.inference.contextSize, 4096)
    assert.equal(config.inference.memoryBudgetMiB, 2048)
    assert.equal(config.inference.defaultModel, 'stories260K')
  })
})

describe('configFromEnv', () => {
  it('skips unset and empty variables', () => {
    // Execute
    const out = configFromEnv({ PLEXUS_PORT: '', PLEXUS_HOST: undefined })

    // Assert
    assert.deepEqual(out, { api: {}, inference: {}, cabinets: {}, network: {}, router: {}, federated: {}, stats: {}, ledger: {}, governance: {} })
  })

  it('reads booleans from 1/true/yes/on, case-insensitively', () => {
    for (const value of ['1', 'true', 'TRUE', 'yes', 'On']) {
      assert.equal(configFromEnv({ PLEXUS_REQUIRE_API_KEY: value }).api?.requireApiKey, true, value)
    }
    for (const value of ['0', 'false', 'no', 'off']) {
      assert.equal(configFromEnv({ PLEXUS_REQUIRE_API_KEY: value }).api?.requireApiKey, false, value)
    }
  })

  it('refuses an integer variable that is not an integer', () => {
    for (const value of ['abc', '12.5', '1e3', '0x10', ' 80', '8080 ']) {
      assert.throws(() => configFromEnv({ PLEXUS_PORT: value }), configInvalid, value)
    }
  })

  it('refuses a non-integer variable through loadConfig as well', () => {
    assert.throws(() => loadConfig(configPath, {}, { PLEXUS_THREADS: 'many' }), (err: unknown) => {
      assert.ok(configInvalid(err))
      assert.equal((err as { statusCode: number }).statusCode, 500)
      return true
    })
  })
})

describe('loadConfig validation', () => {
  it('refuses a file that is not valid JSON', () => {
    // Prepare
    writeConfig('{ "api": { "port": 80, } ')

    // Execute / Assert
    assert.throws(() => loadConfig(configPath, {}, {}), configInvalid)
  })

  it('refuses a file whose root is not an object', () => {
    for (const root of ['[]', '42', '"text"', 'null']) {
      writeConfig(root)
      assert.throws(() => loadConfig(configPath, {}, {}), configInvalid, root)
    }
  })

  it('refuses a path that is a directory', () => {
    // Prepare
    mkdirSync(configPath)

    // Execute / Assert
    assert.throws(() => loadConfig(configPath, {}, {}), configInvalid)
  })

  it('refuses unknown keys at the top level and inside a section', () => {
    for (const value of [{ apii: {} }, { api: { hots: 'x' } }, { inference: { gpuLayer: 10 } }]) {
      writeConfig(value)
      assert.throws(() => loadConfig(configPath, {}, {}), configInvalid, JSON.stringify(value))
    }
  })

  it('refuses values of the wrong type or out of range', () => {
    const bad = [
      { api: { port: 70000 } },
      { api: { port: -1 } },
      { api: { port: '8080' } },
      { api: { port: 80.5 } },
      { api: { host: '' } },
      { api: { bodyLimitBytes: 10 } },
      { api: { rateLimitPerMinute: 0 } },
      { api: { requireApiKey: 'yes' } },
      { inference: { parallel: 0 } },
      { inference: { threads: -1 } },
      { inference: { contextSize: 16 } },
      { inference: { maxQueue: -1 } },
      { inference: { memoryBudgetMiB: 1 } },
      { inference: { defaultModel: '' } }
    ]
    for (const value of bad) {
      writeConfig(value)
      assert.throws(() => loadConfig(configPath, {}, {}), configInvalid, JSON.stringify(value))
    }
  })

  it('refuses a section that is not an object', () => {
    // A section of the wrong type is an invalid value, like any other.
    for (const value of [{ api: 5 }, { api: null }, { api: [] }, { inference: true }, { inference: 'fast' }]) {
      writeConfig(value)
      assert.throws(() => loadConfig(configPath, {}, {}), configInvalid, JSON.stringify(value))
    }
  })

  it('refuses out-of-range values that come from the environment or flags', () => {
    assert.throws(() => loadConfig(configPath, {}, { PLEXUS_PORT: '-5' }), configInvalid)
    assert.throws(() => loadConfig(configPath, {}, { PLEXUS_PARALLEL: '0' }), configInvalid)
    assert.throws(() => loadConfig(configPath, { api: { port: 65536 } }, {}), configInvalid)
  })
})

describe('writeDefaultConfig', () => {
  it('writes the defaults, mode 0600, and they load back unchanged', () => {
    // Execute
    writeDefaultConfig(configPath)
    const loaded = loadConfig(configPath, {}, {})

    // Assert
    assert.equal(statSync(configPath).mode & 0o777, 0o600)
    assert.deepEqual(loaded, loadConfig(join(dir, 'absent.json'), {}, {}))
  })
})

describe('cabinets section', () => {
  it('refuses a chunk overlap larger than half the chunk size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'plexus-config-cab-'))
    try {
      assert.throws(() => loadConfig(join(dir, 'none.json'), { cabinets: { chunkTokens: 48 } }, {}), { code: 'PLX_ERR_CONFIG_INVALID' })
      assert.equal(loadConfig(join(dir, 'none.json'), { cabinets: { chunkTokens: 64 } }, {}).cabinets.chunkOverlapTokens, 32)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('network and router configuration', () => {
  it('defaults: network on (port 11436, mDNS, network "plexus"), requests private, no cloud', () => {
    const config = loadConfig(configPath, {}, {})
    assert.equal(config.network.enabled, true)
    assert.equal(config.network.port, 11436)
    assert.equal(config.network.mdns, true)
    assert.equal(config.network.networkId, 'plexus')
    assert.deepEqual(config.network.bootstrap, [])
    assert.equal(config.network.community.serve, true)
    assert.equal(config.router.defaultPrivacy, 'private')
    assert.equal(config.router.cloud.baseUrl, undefined)
  })

  it('reads the network variables, lists split on commas, nested keys included', () => {
    const config = loadConfig(configPath, {}, {
      PLEXUS_NETWORK: 'lab-net',
      PLEXUS_P2P_HOST: '127.0.0.1',
      PLEXUS_P2P_PORT: '0',
      PLEXUS_MDNS: 'false',
      PLEXUS_BOOTSTRAP: '/ip4/127.0.0.1/tcp/1/p2p/a, /ip4/127.0.0.1/tcp/2/p2p/b',
      PLEXUS_DEFAULT_PRIVACY: 'community',
      PLEXUS_CLOUD_BASE_URL: 'http://127.0.0.1:9/v1',
      PLEXUS_CLOUD_API_KEY: 'sk-test'
    })
    assert.equal(config.network.networkId, 'lab-net')
    assert.equal(config.network.port, 0)
    assert.equal(config.network.mdns, false)
    assert.deepEqual(config.network.bootstrap, ['/ip4/127.0.0.1/tcp/1/p2p/a', '/ip4/127.0.0.1/tcp/2/p2p/b'])
    assert.equal(config.router.defaultPrivacy, 'community')
    assert.equal(config.router.cloud.baseUrl, 'http://127.0.0.1:9/v1')
    assert.equal(config.router.cloud.apiKey, 'sk-test')
  })

  it('merges nested sections deeply: a flag for one community limit keeps the file\'s others', () => {
    writeConfig({ network: { community: { maxTokens: 99, maxConcurrentJobs: 7 } }, router: { cloud: { models: ['x'] } } })
    const config = loadConfig(configPath, { network: { community: { serve: false } } }, { PLEXUS_CLOUD_API_KEY: 'k' })
    assert.deepEqual(config.network.community, { serve: false, maxTokens: 99, maxConcurrentJobs: 7, requestsPerMinutePerPeer: 60, models: [] })
    assert.deepEqual(config.router.cloud.models, ['x'])
    assert.equal(config.router.cloud.apiKey, 'k')
  })

  it('refuses bad network ids, peer ids, privacy levels and cloud URLs', () => {
    assert.throws(() => loadConfig(configPath, {}, { PLEXUS_NETWORK: 'Bad Net' }), configInvalid)
    assert.throws(() => loadConfig(configPath, { network: { denyPeers: ['not-a-peer'] } }, {}), configInvalid)
    assert.throws(() => loadConfig(configPath, {}, { PLEXUS_DEFAULT_PRIVACY: 'public' }), configInvalid)
    assert.throws(() => loadConfig(configPath, {}, { PLEXUS_CLOUD_BASE_URL: 'ftp://x' }), configInvalid)
    writeConfig({ network: 'on' })
    assert.throws(() => loadConfig(configPath, {}, {}), configInvalid)
  })
})

describe('governance configuration', () => {
  it('defaults to member mode with an open members list and bounded rules', () => {
    const g = ConfigSchema.parse({}).governance
    assert.equal(g.mode, 'member')
    assert.deepEqual(g.members, [])
    assert.ok(g.ruleThreshold > g.threshold)
    assert.throws(() => ConfigSchema.parse({ governance: { quorum: 0 } }))
    assert.throws(() => ConfigSchema.parse({ governance: { threshold: 1 } }))
    assert.throws(() => ConfigSchema.parse({ governance: { members: ['nope'] } }))
  })
})
