/**
 * CSV / TSV: the first record is the header, and every later record becomes one paragraph of
 * `column: value` lines (empty values left out), so the chunker packs whole rows together. All
 * rows form one section without a heading; the title is the file name.
 */
import { parse } from 'csv-parse/sync'
import { MAX_CSV_RECORD_CHARS, MAX_CSV_ROWS } from './constants.js'
import { firstSentence, IngestError } from './ingest-error.js'
import { decodeText, SectionList } from './text.js'
import type { ParserInput, ParserResult } from './types.js'

/** Delimiters tried on the header line of a .csv (spreadsheets in many locales write `;`). */
const CANDIDATE_DELIMITERS = [',', ';', '\t'] as const
/** Characters of the file searched for the end of the header line. */
const SNIFF_CHARS = 64 * 1024

/** The candidate delimiter found most often, outside quotes, on the first line. */
export function sniffDelimiter (text: string): string {
  const counts = new Map<string, number>()
  let quoted = false
  for (const ch of text.slice(0, SNIFF_CHARS)) {
    if (ch === '"') quoted = !quoted
    else if (!quoted && (ch === '\n' || ch === '\r')) break
    else if (!quoted && (CANDIDATE_DELIMITERS as readonly string[]).includes(ch)) counts.set(ch, (counts.get(ch) ?? 0) + 1)
  }
  let best = ','
  for (const d of CANDIDATE_DELIMITERS) if ((counts.get(d) ?? 0) > (counts.get(best) ?? 0)) best = d
  return best
}

/** Render one record as `column: value` lines under the header names. */
function renderRow (header: string[], row: string[]): string {
  const lines: string[] = []
  row.forEach((value, i) => {
    const v = value.trim()
    if (v === '') return
    const name = header[i]?.trim() ?? ''
    lines.push(`${name === '' ? `column ${i + 1}` : name}: ${v}`)
  })
  return lines.join('\n')
}

/** Build a parser for one delimiter rule (`sniff` for .csv, a fixed tab for .tsv). */
function csvParser (delimiter: 'sniff' | '\t') {
  return ({ bytes, fileName }: ParserInput): ParserResult => {
    const text = decodeText(bytes, fileName)
    let records: string[][]
    try {
      records = parse(text, {
        delimiter: delimiter === 'sniff' ? sniffDelimiter(text) : delimiter,
        bom: true,
        relax_column_count: true,
        skip_empty_lines: true,
        max_record_size: MAX_CSV_RECORD_CHARS,
        to: MAX_CSV_ROWS + 1
      })
    } catch (err) {
      throw new IngestError('corrupt', `${fileName} could not be read as CSV: ${firstSentence(err)}.`, { cause: err })
    }
    if (records.length > MAX_CSV_ROWS) {
      throw new IngestError('too_large', `${fileName} has more than ${MAX_CSV_ROWS.toLocaleString('en')} rows; split it into smaller files.`)
    }
    const [header = [], ...rows] = records
    // A lone header line is still text worth keeping.
    const paragraphs = rows.length === 0 ? [header.join(' | ')] : rows.map(row => renderRow(header, row))
    const list = new SectionList(fileName)
    list.add(null, paragraphs.filter(p => p !== '').join('\n\n'))
    return { title: fileName, sections: list.sections }
  }
}

/** Parse a .csv file (delimiter `,`, `;` or tab, sniffed from the header line). */
export const parseCsv = csvParser('sniff')
/** Parse a .tsv file. */
export const parseTsv = csvParser('\t')
