import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { requestedLevel, pinPrivate, mayRunAt, assertMayRunAt, type PrivacyTag } from '../../src/router/privacy.js'

describe('privacy levels', () => {
  it('defaults to private and reads the body field before the header', () => {
    assert.equal(requestedLevel(undefined, undefined), 'private')
    assert.equal(requestedLevel('community', undefined), 'community')
    assert.equal(requestedLevel('cloud', 'private'), 'private')
    assert.throws(() => requestedLevel('public', undefined), { code: 'PLX_ERR_BAD_REQUEST' })
  })

  it('lets work run at its own level or closer, never farther', () => {
    const community: PrivacyTag = { level: 'community', pinnedBy: [] }
    assert.equal(mayRunAt(community, 'private'), true)
    assert.equal(mayRunAt(community, 'community'), true)
    assert.equal(mayRunAt(community, 'cloud'), false)
    const priv: PrivacyTag = { level: 'private', pinnedBy: [] }
    assert.equal(mayRunAt(priv, 'community'), false)
  })

  it('pins cabinet-derived work to this node and refuses a wider request', () => {
    const tag = pinPrivate('private', 'cabinet:notes')
    assert.equal(mayRunAt(tag, 'private'), true)
    assert.equal(mayRunAt(tag, 'community'), false)
    assert.equal(mayRunAt(tag, 'cloud'), false)
    assert.throws(() => assertMayRunAt(tag, 'community'), { code: 'PLX_ERR_PRIVACY_VIOLATION' })
    assert.throws(() => pinPrivate('community', 'cabinet:notes'), { code: 'PLX_ERR_PRIVACY_VIOLATION' })
  })

  it('keeps a pinned tag private even if its level field were widened', () => {
    const tampered = { ...pinPrivate('private', 'cabinet:notes'), level: 'cloud' as const }
    assert.equal(mayRunAt(tampered, 'cloud'), false)
  })
})
