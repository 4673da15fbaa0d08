/**
 * HTML to sections, shared by the HTML, Markdown (rendered by marked) and .docx (rendered by
 * mammoth) parsers. html-to-text does the text layout; a custom heading formatter wraps each
 * `<h1>`–`<h6>` in markers that carry a random nonce, so text in the document cannot forge a
 * heading, and the output is then cut at those markers.
 */
import { randomBytes } from 'node:crypto'
import { convert, type DomNode, type FormatCallback, type HtmlToTextOptions } from 'html-to-text'
import { MAX_HTML_DEPTH } from './constants.js'
import { normalizeHeading, SectionList } from './text.js'
import type { Section } from './types.js'

/** A heading found in the document. */
export interface HtmlHeading {
  level: number
  text: string
}

/** What htmlToSections returns. */
export interface HtmlSections {
  /** Text of the `<title>` element, or null. */
  title: string | null
  /** Every heading in order, for callers that take the title from the first one. */
  headings: HtmlHeading[]
  sections: Section[]
}

/** Elements whose content is never document text. */
const SKIPPED = ['script', 'style', 'noscript', 'template', 'title', 'head', 'svg', 'canvas', 'iframe', 'object', 'embed', 'img', 'button', 'select', 'hr']
/** Private-use characters that open and close a heading marker (the nonce sits between). */
const OPEN = '\uE000'
const CLOSE = '\uE001'
const TITLE = /<title\b[^>]*>([\s\S]*?)<\/title\s*>/i

/** Render a table one row per line, cells separated by ` | `, instead of padded columns. */
const formatTable: FormatCallback = (elem, walk, builder) => {
  builder.openTable()
  for (const row of tableRows(elem)) {
    builder.openTableRow()
    for (const cell of row.children.filter(c => c.name === 'td' || c.name === 'th')) {
      builder.openTableCell()
      walk(cell.children, builder)
      builder.closeTableCell()
    }
    builder.closeTableRow()
  }
  builder.closeTable({
    tableToString: rows => rows.map(cells => cells.map(c => c.text.replace(/\s+/g, ' ').trim()).join(' | ')).join('\n'),
    leadingLineBreaks: 2,
    trailingLineBreaks: 2
  })
}

/** Rows of a table, through thead/tbody/tfoot but not into nested tables. */
function tableRows (table: DomNode): DomNode[] {
  const rows: DomNode[] = []
  for (const child of table.children ?? []) {
    if (child.name === 'tr') rows.push(child)
    else if (child.name === 'thead' || child.name === 'tbody' || child.name === 'tfoot') rows.push(...(child.children ?? []).filter(c => c.name === 'tr'))
  }
  return rows
}

function options (nonce: string): HtmlToTextOptions {
  const heading: FormatCallback = (elem, walk, builder) => {
    builder.openBlock({ leadingLineBreaks: 2 })
    builder.addLiteral(`${OPEN}${nonce}${(elem.name ?? 'h1').slice(1)}${CLOSE}`)
    walk(elem.children, builder)
    builder.addLiteral(`${OPEN}${nonce}${CLOSE}`)
    builder.closeBlock({ trailingLineBreaks: 2 })
  }
  return {
    wordwrap: false,
    // The caller bounds the input size; html-to-text would otherwise cut at 16 Mi characters and warn.
    limits: { maxInputLength: Number.MAX_SAFE_INTEGER, maxDepth: MAX_HTML_DEPTH, ellipsis: '' },
    formatters: { plexusHeading: heading, plexusTable: formatTable },
    selectors: [
      ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map(selector => ({ selector, format: 'plexusHeading' })),
      ...SKIPPED.map(selector => ({ selector, format: 'skip' })),
      { selector: 'table', format: 'plexusTable' },
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'ul', options: { itemPrefix: '- ' } }
    ]
  }
}

/** Decode entities and drop tags in a short fragment such as a title. */
function fragmentText (html: string): string {
  return convert(html, { wordwrap: false, selectors: SKIPPED.filter(s => s !== 'title').map(selector => ({ selector, format: 'skip' })) })
}

/** Turn an HTML document or fragment into sections split at its headings. */
export function htmlToSections (html: string, fileName: string): HtmlSections {
  const nonce = randomBytes(8).toString('hex')
  const text = convert(html, options(nonce))
  const titleMatch = TITLE.exec(html)
  const title = titleMatch?.[1] != null ? normalizeHeading(fragmentText(titleMatch[1])) : null

  const list = new SectionList(fileName)
  const headings: HtmlHeading[] = []
  const marker = new RegExp(`${OPEN}${nonce}(\\d)${CLOSE}([\\s\\S]*?)${OPEN}${nonce}${CLOSE}`, 'g')
  let heading: string | null = null
  let from = 0
  for (const match of text.matchAll(marker)) {
    list.add(heading, text.slice(from, match.index))
    heading = normalizeHeading(match[2])
    if (heading !== null) headings.push({ level: Number(match[1]), text: heading })
    from = match.index + match[0].length
  }
  list.add(heading, text.slice(from))
  return { title, headings, sections: list.sections }
}
