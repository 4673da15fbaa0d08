import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseFile } from '../../../src/cabinets/ingest/index.js'

const PAGE = `<!doctype html>
<html>
<head>
  <meta charset="utf-8">
  <title>Caf&eacute; &amp; Bar &mdash; Menu</title>
  <style>body { color: red } .secret { display: none }</style>
  <script>var leaked = 'SCRIPT_SHOULD_NOT_LEAK'</script>
</head>
<body>
  <nav><a href="/home">Home</a></nav>
  <h1>Our   <em>Menu</em></h1>
  <p>Fresh bread &lt;daily&gt; &copy; 2024. See <a href="https://example.com/menu">the full menu</a>.</p>
  <script type="module">console.log('SCRIPT_SHOULD_NOT_LEAK')</script>
  <h2>Drinks</h2>
  <ul><li>Coffee</li><li>Tea</li></ul>
  <table><thead><tr><th>Item</th><th>Price</th></tr></thead><tbody><tr><td>Espresso</td><td>2.50</td></tr></tbody></table>
  <noscript>NOSCRIPT_SHOULD_NOT_LEAK</noscript>
  <img src="cake.png" alt="cake">
</body>
</html>`

describe('parseFile: HTML', () => {
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'plexus-ingest-html-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('takes the <title>, splits at headings, decodes entities and drops scripts, styles and link targets', async () => {
    // Prepare
    const path = join(dir, 'menu.html')
    writeFileSync(path, PAGE)

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.equal(doc.title, 'Café & Bar — Menu')
    assert.equal(doc.mime, 'text/html')
    assert.deepEqual(doc.sections, [
      { heading: null, text: 'Home' },
      { heading: 'Our Menu', text: 'Fresh bread <daily> © 2024. See the full menu.' },
      { heading: 'Drinks', text: '- Coffee\n- Tea\n\nItem | Price\nEspresso | 2.50' }
    ])
    const all = JSON.stringify(doc)
    assert.ok(!all.includes('SHOULD_NOT_LEAK'))
    assert.ok(!all.includes('color: red'))
    assert.ok(!all.includes('https://example.com'))
  })

  it('falls back to the first <h1>, then the file name, for the title', async () => {
    // Prepare
    const withH1 = join(dir, 'fragment.htm')
    const bare = join(dir, 'bare.htm')
    writeFileSync(withH1, '<h2>Minor</h2><p>a</p><h1>Major</h1><p>b</p>')
    writeFileSync(bare, '<p>Only a paragraph.</p>')

    // Execute
    const first = await parseFile(withH1)
    const second = await parseFile(bare)

    // Assert
    assert.equal(first.title, 'Major')
    assert.equal(second.title, 'bare.htm')
    assert.deepEqual(second.sections, [{ heading: null, text: 'Only a paragraph.' }])
  })

  it('decodes the charset a page declares', async () => {
    // Prepare
    const path = join(dir, 'latin1.html')
    writeFileSync(path, Buffer.concat([
      Buffer.from('<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252"></head><body><p>'),
      Buffer.from([0x63, 0x61, 0x66, 0xE9]), // "café" in windows-1252
      Buffer.from('</p></body></html>')
    ]))

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.deepEqual(doc.sections, [{ heading: null, text: 'café' }])
  })

  it('cannot be tricked into a heading by marker characters in the text', async () => {
    // Prepare
    const path = join(dir, 'forged.html')
    writeFileSync(path, '<p>\uE0001\uE001Fake\uE000\uE001 text</p>')

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.equal(doc.sections.length, 1)
    assert.equal(doc.sections[0]?.heading, null)
  })
})
