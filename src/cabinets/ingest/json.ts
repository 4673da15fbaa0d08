/**
 * JSON: flattened to `path.to.key: value` lines (`items[0].name: x`), one paragraph per
 * top-level key or array item, all in one section without a heading. Nesting deeper than
 * MAX_JSON_DEPTH is replaced by a note instead of being walked. The title is the file name.
 */
import { MAX_DOCUMENT_CHARS, MAX_JSON_DEPTH } from './constants.js'
import { firstSentence, IngestError } from './ingest-error.js'
import { decodeText, SectionList, textTooLarge } from './text.js'
import type { ParserInput, ParserResult } from './types.js'

/** Keys written as `.key`; others (dots, brackets, colons, line breaks, empty) as `["key"]`. */
const PLAIN_KEY = /^[^.[\]:\n\r]+$/

function keyPath (parent: string, key: string): string {
  if (!PLAIN_KEY.test(key)) return `${parent}[${JSON.stringify(key)}]`
  return parent === '' ? key : `${parent}.${key}`
}

/** Appends flattened lines and keeps count of their characters against MAX_DOCUMENT_CHARS. */
class Flattener {
  readonly lines: string[] = []
  #chars = 0
  readonly #fileName: string

  constructor (fileName: string) {
    this.#fileName = fileName
  }

  #push (path: string, value: string): void {
    const line = path === '' ? value : `${path}: ${value}`
    this.#chars += line.length + 1
    if (this.#chars > MAX_DOCUMENT_CHARS) throw textTooLarge(this.#fileName)
    this.lines.push(line)
  }

  walk (value: unknown, path: string, depth: number): void {
    if (value === null || typeof value !== 'object') {
      this.#push(path, typeof value === 'string' ? value : JSON.stringify(value))
    } else if (depth >= MAX_JSON_DEPTH) {
      this.#push(path, `(nested deeper than ${MAX_JSON_DEPTH} levels, left out)`)
    } else if (Array.isArray(value)) {
      if (value.length === 0) this.#push(path, '[]')
      value.forEach((item, i) => { this.walk(item, `${path}[${i}]`, depth + 1) })
    } else {
      const entries = Object.entries(value)
      if (entries.length === 0) this.#push(path, '{}')
      for (const [key, item] of entries) this.walk(item, keyPath(path, key), depth + 1)
    }
  }
}

/** Flatten parsed JSON to paragraphs of `path: value` lines, one per top-level entry. */
export function flattenJson (value: unknown, fileName: string): string[] {
  const top: Array<[string, unknown]> = Array.isArray(value)
    ? value.map((item, i) => [`[${i}]`, item])
    : value !== null && typeof value === 'object'
      ? Object.entries(value).map(([key, item]) => [keyPath('', key), item])
      : [['', value]]
  const flattener = new Flattener(fileName)
  const paragraphs: string[] = []
  for (const [path, item] of top) {
    const from = flattener.lines.length
    flattener.walk(item, path, 1)
    paragraphs.push(flattener.lines.slice(from).join('\n'))
  }
  return paragraphs
}

/** Parse a .json file. */
export function parseJson ({ bytes, fileName }: ParserInput): ParserResult {
  const text = decodeText(bytes, fileName)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new IngestError('corrupt', `${fileName} is not valid JSON: ${firstSentence(err)}.`, { cause: err })
  }
  const list = new SectionList(fileName)
  list.add(null, flattenJson(value, fileName).join('\n\n'))
  return { title: fileName, sections: list.sections }
}
