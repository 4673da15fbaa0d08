/**
 * Median of a non-empty list (mean of the two middle values for an even count).
 *
 * @param values - the samples
 * @returns the median, or NaN for an empty list
 */
export function median (values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/**
 * Formats rows as a plain-text table with right-aligned columns except the first.
 *
 * @param header - column titles
 * @param rows - cells, already formatted as strings
 * @returns the table, one line per row
 */
export function formatTable (header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/**
 * Formats a number with a fixed count of significant-looking decimals for tables.
 *
 * @param n - the value (NaN or null prints as `-`)
 * @param digits - decimals
 */
export function fmt (n: number | null | undefined, digits = 0): string {
  return n == null || Number.isNaN(n) ? '-' : n.toFixed(digits)
}
