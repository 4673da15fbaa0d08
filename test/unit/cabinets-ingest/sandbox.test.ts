import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isIngestError } from '../../../src/cabinets/ingest/ingest-error.js'
import { ParserSandbox } from '../../../src/cabinets/ingest/sandbox.js'

/** Markdown on which marked takes quadratic time: minutes for this size (about 12 s for a quarter of it). */
const SLOW_MARKDOWN = '*a **b '.repeat(20_000)

describe('ParserSandbox', () => {
  let dir: string
  let slow: string
  let small: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'plexus-ingest-sandbox-'))
    slow = join(dir, 'slow.md')
    small = join(dir, 'small.txt')
    writeFileSync(slow, SLOW_MARKDOWN)
    writeFileSync(small, 'small file')
  })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('stops a parse that passes its time limit, then parses the next file in a fresh worker', async () => {
    // Prepare
    const sandbox = new ParserSandbox()

    // Execute
    const stuck = sandbox.parse(slow, { timeoutMs: 100 })
    const next = sandbox.parse(small)

    // Assert
    await assert.rejects(stuck, (err: unknown) => isIngestError(err, 'too_large') && /took longer than/.test(err.message))
    assert.deepEqual((await next).sections, [{ heading: null, text: 'small file' }])
    await sandbox.close()
  })

  it('stops a running parse on abort with the signal reason', async () => {
    // Prepare
    const sandbox = new ParserSandbox()
    const controller = new AbortController()
    const running = sandbox.parse(slow, { signal: controller.signal })

    // Execute
    setTimeout(() => { controller.abort(new Error('user cancelled')) }, 20)

    // Assert
    await assert.rejects(running, { message: 'user cancelled' })
    assert.equal((await sandbox.parse(small)).title, 'small.txt')
    await sandbox.close()
  })

  it('drops a waiting parse on abort without touching the running one', async () => {
    // Prepare
    const sandbox = new ParserSandbox()
    const controller = new AbortController()
    const first = sandbox.parse(small)
    const waiting = sandbox.parse(small, { signal: controller.signal })

    // Execute
    controller.abort()

    // Assert
    await assert.rejects(waiting, { name: 'AbortError' })
    assert.equal((await first).title, 'small.txt')
    await sandbox.close()
  })

  it('answers concurrent parses each with its own file', async () => {
    // Prepare
    const sandbox = new ParserSandbox()
    const names = ['one.txt', 'two.md', 'three.json']
    writeFileSync(join(dir, 'one.txt'), 'first')
    writeFileSync(join(dir, 'two.md'), '# Second')
    writeFileSync(join(dir, 'three.json'), '{"third": 3}')

    // Execute
    const docs = await Promise.all(names.map(async name => await sandbox.parse(join(dir, name))))

    // Assert
    assert.deepEqual(docs.map(d => d.title), ['one.txt', 'Second', 'three.json'])
    assert.deepEqual(docs.map(d => d.mime), ['text/plain', 'text/markdown', 'application/json'])
    await sandbox.close()
  })

  it('refuses a file whose parse passes the heap limit as too large, and recovers', async () => {
    // Prepare
    const sandbox = new ParserSandbox({ heapMb: 32 })
    const big = join(dir, 'big.html')
    writeFileSync(big, '<p>x</p>'.repeat(1_500_000))

    // Execute
    const result = sandbox.parse(big)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'too_large') && /32 MiB of memory/.test(err.message))
    assert.equal((await sandbox.parse(small)).title, 'small.txt')
    await sandbox.close()
  })

  it('rejects a parse in progress when closed', async () => {
    // Prepare
    const sandbox = new ParserSandbox()
    const running = sandbox.parse(slow)
    const rejected = assert.rejects(running, { message: 'The parser was closed' })

    // Execute
    await sandbox.close()

    // Assert
    await rejected
  })

  it('reports a parser stack overflow on deep nesting as corrupt', async () => {
    // Prepare
    const sandbox = new ParserSandbox()
    const deep = join(dir, 'deep.md')
    writeFileSync(deep, '>'.repeat(100_000) + ' quote\n')

    // Execute
    const result = sandbox.parse(deep)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'corrupt') && /could not be parsed: Maximum call stack size exceeded\.$/.test(err.message))
    await sandbox.close()
  })
})
