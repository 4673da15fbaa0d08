/**
 * Markdown: rendered to HTML by marked (GFM) and split at its headings like HTML, so inline
 * markup, entities, tables and raw HTML are handled once. The title is the first `# H1`, else a
 * front-matter `title:`, else the file name. YAML front matter is not document text and is removed.
 */
import { Marked } from 'marked'
import { htmlToSections } from './html-sections.js'
import { decodeText } from './text.js'
import type { ParserInput, ParserResult } from './types.js'

/** A `---` … `---` (or `...`) block at the very start of the file. */
const FRONT_MATTER = /^---[ \t]*\r?\n([\s\S]*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|$)/
const FRONT_MATTER_TITLE = /^title:[ \t]*(.+?)[ \t]*$/m

/** A private instance, so that extensions another module adds to the global `marked` do not apply. */
const marked = new Marked({ gfm: true, async: false })

/** Split YAML front matter from the body, returning its `title:` if any. */
function stripFrontMatter (source: string): { body: string, title: string | null } {
  const match = FRONT_MATTER.exec(source)
  if (match === null) return { body: source, title: null }
  const raw = FRONT_MATTER_TITLE.exec(match[1] ?? '')?.[1] ?? null
  const title = raw === null ? null : raw.replace(/^(["'])(.*)\1$/, '$2').trim() || null
  return { body: source.slice(match[0].length), title }
}

/** Parse a .md / .markdown file. */
export function parseMarkdown ({ bytes, fileName }: ParserInput): ParserResult {
  const { body, title: frontTitle } = stripFrontMatter(decodeText(bytes, fileName))
  const html = marked.parse(body, { async: false })
  const parsed = htmlToSections(html, fileName)
  const title = parsed.headings.find(h => h.level === 1)?.text ?? frontTitle ?? fileName
  return { title, sections: parsed.sections }
}
