import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ConfigSchema } from '../../../src/node/config.js'
import { applyChange, checkChange, isRuleChange, PARAMS, settingAt } from '../../../src/governance/params.js'

const PEER = '12D3KooWGRUVh6nbVrHqsjJjXhUJzJ6xGLfhxUjdpWRbYYGdVDYs'
const noHooks = { deny: () => {}, allow: () => {} }

describe('governable parameters', () => {
  it('refuses unknown parameters and values out of bounds', () => {
    assert.throws(() => checkChange({ type: 'set', param: 'api.port', value: 80 }), { code: 'PLX_ERR_GOV_CHANGE_INVALID', message: /unknown parameter 'api.port'/ })
    assert.throws(() => checkChange({ type: 'set', param: 'stats.disclosure.tab', value: -1 }), { code: 'PLX_ERR_GOV_CHANGE_INVALID' })
    assert.throws(() => checkChange({ type: 'set', param: 'stats.disclosure.tab', value: 2.5 }), { code: 'PLX_ERR_GOV_CHANGE_INVALID' })
    assert.throws(() => checkChange({ type: 'set', param: 'stats.disclosure.glm', value: 1.5 }), { code: 'PLX_ERR_GOV_CHANGE_INVALID' })
    assert.throws(() => checkChange({ type: 'set', param: 'router.defaultPrivacy', value: 'public' }), { code: 'PLX_ERR_GOV_CHANGE_INVALID' })
    assert.throws(() => checkChange({ type: 'set', param: 'network.community.models', value: ['abc'] }), { code: 'PLX_ERR_GOV_CHANGE_INVALID' })
    assert.throws(() => checkChange({ type: 'set', param: 'governance.threshold', value: 0.4 }), { code: 'PLX_ERR_GOV_CHANGE_INVALID' })
    assert.throws(() => checkChange({ type: 'member', action: 'ban', peer: PEER }), { code: 'PLX_ERR_GOV_CHANGE_INVALID' })
    assert.throws(() => checkChange({ type: 'set', param: '__proto__', value: 1 }), { code: 'PLX_ERR_GOV_CHANGE_INVALID' })
    assert.deepEqual(checkChange({ type: 'set', param: 'stats.disclosure.tab', value: 5 }), { type: 'set', param: 'stats.disclosure.tab', value: 5 })
    assert.deepEqual(checkChange({ type: 'set', param: 'nfilter.tab', value: 5 }), { type: 'set', param: 'stats.disclosure.tab', value: 5 })
    assert.throws(() => checkChange({ type: 'set', param: 'nfilter.glm', value: 2 }), { message: /stats\.disclosure\.glm/ })
  })

  it('marks rule changes for the higher threshold', () => {
    assert.equal(isRuleChange(checkChange({ type: 'set', param: 'governance.quorum', value: 0.6 })), true)
    assert.equal(isRuleChange(checkChange({ type: 'set', param: 'ledger.weights.uptime', value: 3 })), false)
  })

  it('applies every parameter to the running configuration in place', () => {
    const config = ConfigSchema.parse({})
    const values: Record<string, unknown> = {
      'ledger.epochSeconds': 3600, 'ledger.commitSeconds': 120, 'ledger.revealSeconds': 180, 'router.defaultPrivacy': 'community', 'network.community.models': ['a'.repeat(64)],
      'governance.flTemplates': ['b'.repeat(64)], 'governance.mode': 'token', 'governance.quorum': 0.75, 'governance.threshold': 0.6,
      'governance.ruleThreshold': 0.8, 'governance.votingPeriodSeconds': 60, 'governance.timelockSeconds': 0,
      'stats.disclosure.glm': 0.2, 'stats.disclosure.levelsMax': 10, 'stats.disclosure.levelsDensity': 0.5, 'stats.disclosure.dominanceShare': 0.8
    }
    for (const name of Object.keys(PARAMS)) {
      const value = values[name] ?? 7
      const { after } = applyChange(config, checkChange({ type: 'set', param: name, value }), noHooks)
      assert.deepEqual(after, value, name)
      assert.deepEqual(PARAMS[name]!.get(config), value, name)
    }
    assert.equal(config.stats.disclosure.tab, 7)
    assert.equal(config.ledger.weights.completionToken, 7)
    // The result is still a valid configuration.
    assert.doesNotThrow(() => ConfigSchema.parse(config))
  })

  it('removes a member onto the deny list and admits it again', () => {
    const config = ConfigSchema.parse({ governance: { members: [PEER] } })
    const denied: string[] = []
    const allowed: string[] = []
    const hooks = { deny: (p: string) => denied.push(p), allow: (p: string) => allowed.push(p) }
    applyChange(config, checkChange({ type: 'member', action: 'remove', peer: PEER }), hooks)
    assert.deepEqual(config.governance.members, [])
    assert.deepEqual(config.network.denyPeers, [PEER])
    assert.deepEqual(denied, [PEER])
    applyChange(config, checkChange({ type: 'member', action: 'admit', peer: PEER }), hooks)
    assert.deepEqual(config.network.denyPeers, [])
    assert.deepEqual(allowed, [PEER])
  })

  it('a setting applied over time: its value then, from the changes applied and its value now', () => {
    const settings = [
      { param: 'ledger.weights.uptime', fromMs: 2000, before: 3, after: 5 },
      { param: 'ledger.weights.uptime', fromMs: 1000, before: 1, after: 3 },
      { param: 'stats.disclosure.tab', fromMs: 500, before: 3, after: 7 }
    ]
    assert.equal(settingAt(settings, 'ledger.weights.uptime', 5, 999), 1)
    assert.equal(settingAt(settings, 'ledger.weights.uptime', 5, 1000), 3)
    assert.equal(settingAt(settings, 'ledger.weights.uptime', 5, 1999), 3)
    assert.equal(settingAt(settings, 'ledger.weights.uptime', 5, 2000), 5)
    assert.equal(settingAt(settings, 'ledger.weights.flSample', 9, 0), 9, 'never changed: its value now')
  })
})
