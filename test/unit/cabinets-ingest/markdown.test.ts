import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseFile } from '../../../src/cabinets/ingest/index.js'

const NOTES = `---
title: "Front matter title"
tags: [a, b]
---
Preface before any heading.

# Setup &amp; Install

Install with **npm** and read [the docs](https://example.com/docs).
Second line of the same paragraph.

## Linux

- apt install foo
- run \`plexus start\`

| Flag | Meaning |
|------|---------|
| -v   | verbose |

\`\`\`sh
plexus   start --port 8080
\`\`\`

<script>alert('NOT_TEXT')</script>

### Empty heading below

## Windows

Use the installer.
`

describe('parseFile: Markdown', () => {
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'plexus-ingest-md-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('takes the title from the H1 and keeps one section per heading, as plain text', async () => {
    // Prepare
    const path = join(dir, 'notes.md')
    writeFileSync(path, NOTES)

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.equal(doc.title, 'Setup & Install')
    assert.equal(doc.mime, 'text/markdown')
    assert.deepEqual(doc.sections, [
      { heading: null, text: 'Preface before any heading.' },
      { heading: 'Setup & Install', text: 'Install with npm and read the docs. Second line of the same paragraph.' },
      { heading: 'Linux', text: '- apt install foo\n- run plexus start\n\nFlag | Meaning\n-v | verbose\n\nplexus start --port 8080' },
      { heading: 'Windows', text: 'Use the installer.' }
    ])
    assert.ok(!JSON.stringify(doc).includes('NOT_TEXT'))
    assert.ok(!JSON.stringify(doc).includes('tags'))
  })

  it('uses the front-matter title without an H1, and the file name without either', async () => {
    // Prepare
    const withFront = join(dir, 'front.markdown')
    const plain = join(dir, 'plain.md')
    writeFileSync(withFront, "---\ntitle: 'Release notes'\n---\n## v1\n\nFirst release.\n")
    writeFileSync(plain, 'Just text.\n')

    // Execute
    const first = await parseFile(withFront)
    const second = await parseFile(plain)

    // Assert
    assert.equal(first.title, 'Release notes')
    assert.deepEqual(first.sections, [{ heading: 'v1', text: 'First release.' }])
    assert.equal(second.title, 'plain.md')
  })
})
