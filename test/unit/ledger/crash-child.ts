// Child process for log.test.ts: appends receipts to a ledger in a loop until it is killed,
// writing "pending N" before each commit and "committed N" after it (synchronously, so the parent
// knows where the kill can have landed). argv: file, owner seed (base64url), owner public key.
import { writeSync } from 'node:fs'
import { createPrivateKey, sign } from 'node:crypto'
import { LedgerLog } from '../../../src/ledger/log.js'
import { peerIdOfKey } from '../../../src/ledger/peer-keys.js'
import { makePeer, makeReceipt } from '../../helpers/ledger.js'

const [file, d, x] = process.argv.slice(2) as [string, string, string]
const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d, x }, format: 'jwk' })
const owner = { peerId: peerIdOfKey(new Uint8Array(Buffer.from(x, 'base64url'))), sign: (data: Uint8Array) => new Uint8Array(sign(null, data, key)) }
const provider = makePeer()
const requester = makePeer()
const log = LedgerLog.open({ file, signer: owner })
let n = log.size
writeSync(1, `start ${n}\n`)
for (;;) {
  const batch = 1 + Math.floor(Math.random() * 4)
  const receipts = Array.from({ length: batch }, (_, i) => makeReceipt(provider, requester, 'inference', { id: `crash-${String(n + i).padStart(6, '0')}` }))
  writeSync(1, `pending ${n + batch}\n`)
  log.appendMany(receipts)
  n += batch
  writeSync(1, `committed ${n}\n`)
  if (Math.random() < 0.15) {
    const head = log.signHead()
    writeSync(1, `head ${head.head.size}\n`)
  }
}
