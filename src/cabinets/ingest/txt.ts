/** Plain text: one section without a heading; the title is the file name. */
import { decodeText, SectionList } from './text.js'
import type { ParserInput, ParserResult } from './types.js'

/** Parse a .txt file. */
export function parseTxt ({ bytes, fileName }: ParserInput): ParserResult {
  const list = new SectionList(fileName)
  list.add(null, decodeText(bytes, fileName))
  return { title: fileName, sections: list.sections }
}
