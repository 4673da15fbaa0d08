import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { walkFiles, type WalkedFile, type WalkOptions } from '../../../src/cabinets/ingest/walk.js'

async function collect (paths: string[], options?: WalkOptions): Promise<WalkedFile[]> {
  const out: WalkedFile[] = []
  for await (const file of walkFiles(paths, options)) out.push(file)
  return out
}

describe('walkFiles', () => {
  let root: string
  before(() => {
    // Prepare (shared tree)
    root = mkdtempSync(join(tmpdir(), 'plexus-ingest-walk-'))
    const files: Record<string, string> = {
      'b.txt': 'bb',
      'a.md': 'a',
      'A.txt': 'upper',
      '.hidden.txt': 'secret',
      '.git/config': '[core]',
      'sub/z.txt': 'z',
      'sub/.env': 'KEY=1',
      'sub/deeper/c.json': '{}',
      'sub/.cache/skip.txt': 'no'
    }
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(join(root, name, '..'), { recursive: true })
      writeFileSync(join(root, name), content)
    }
    symlinkSync(root, join(root, 'sub', 'loop'))
    symlinkSync(join(root, 'b.txt'), join(root, 'link-to-b.txt'))
    symlinkSync(join(root, 'nowhere'), join(root, 'broken.txt'))
  })
  after(() => { rmSync(root, { recursive: true, force: true }) })

  it('lists files recursively in code-unit order, skipping hidden entries, loops and repeats', async () => {
    // Prepare
    const errors: string[] = []

    // Execute
    const files = await collect([root], { onError: path => { errors.push(relative(root, path)) } })

    // Assert
    assert.deepEqual(files.map(f => relative(root, f.path)), ['A.txt', 'a.md', 'b.txt', 'sub/deeper/c.json', 'sub/z.txt'])
    assert.deepEqual(errors, ['broken.txt'])
    const b = files.find(f => f.path.endsWith('b.txt'))
    assert.equal(b?.size, 2)
    assert.equal(typeof b?.mtimeMs, 'number')
  })

  it('gives the same order every time', async () => {
    // Prepare
    const first = await collect([root])

    // Execute
    const second = await collect([root])

    // Assert
    assert.deepEqual(second.map(f => f.path), first.map(f => f.path))
  })

  it('walks hidden paths and single files when they are given explicitly, each file once', async () => {
    // Prepare
    const paths = [join(root, '.git'), join(root, 'sub', 'deeper', 'c.json'), join(root, 'sub', 'deeper')]

    // Execute
    const files = await collect(paths)

    // Assert
    assert.deepEqual(files.map(f => relative(root, f.path)), ['.git/config', 'sub/deeper/c.json'])
  })

  it('follows a directory symlink once, and stops where it leads back to a directory already walked', async () => {
    // Prepare
    const sub = join(root, 'sub')

    // Execute
    const files = await collect([sub])

    // Assert
    assert.deepEqual(files.map(f => relative(root, f.path)), [
      'sub/deeper/c.json',
      'sub/loop/A.txt',
      'sub/loop/a.md',
      'sub/loop/b.txt',
      'sub/z.txt'
    ])
  })

  it('throws for a given path that does not exist', async () => {
    // Prepare
    const missing = join(root, 'missing')

    // Execute
    const result = collect([missing])

    // Assert
    await assert.rejects(result, { code: 'ENOENT' })
  })

  it('stops when the signal is aborted', async () => {
    // Prepare
    const controller = new AbortController()
    const seen: string[] = []

    // Execute
    const result = (async () => {
      for await (const file of walkFiles([root], { signal: controller.signal })) {
        seen.push(file.path)
        controller.abort()
      }
    })()

    // Assert
    await assert.rejects(result, { name: 'AbortError' })
    assert.equal(seen.length, 1)
  })
})
