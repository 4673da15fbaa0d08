/** HTML: sections split at `<h1>`–`<h6>`; the title is `<title>`, else the first `<h1>`, else the file name. */
import { HTML_CHARSET_PRESCAN_BYTES } from './constants.js'
import { htmlToSections } from './html-sections.js'
import { decodeText } from './text.js'
import type { ParserInput, ParserResult } from './types.js'

/** `<meta charset="x">` or `<meta http-equiv="Content-Type" content="text/html; charset=x">`. */
const META_CHARSET = /<meta\b[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)/i

/** The charset a page declares in its first bytes, as the HTML spec's prescan would find it. */
export function sniffCharset (bytes: Buffer): string | undefined {
  return META_CHARSET.exec(bytes.subarray(0, HTML_CHARSET_PRESCAN_BYTES).toString('latin1'))?.[1]
}

/** Parse an .html / .htm file. */
export function parseHtml ({ bytes, fileName }: ParserInput): ParserResult {
  const parsed = htmlToSections(decodeText(bytes, fileName, sniffCharset(bytes)), fileName)
  const title = parsed.title ?? parsed.headings.find(h => h.level === 1)?.text ?? fileName
  return { title, sections: parsed.sections }
}
