import { fmt } from './ui.js'

/** 1185376 → "1.13 MiB". */
export function bytes (n: number | null | undefined): string {
  if (n == null) return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++ }
  return `${u === 0 ? v : v.toFixed(2)} ${units[u] ?? 'B'}`
}

/** 292352 → "292K", 7.2e9 → "7.2B". */
export function count (n: number | null | undefined): string {
  if (n == null) return '–'
  for (const [div, suffix] of [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'K']] as const) {
    if (n >= div) return `${fmt(n / div, 2)}${suffix}`
  }
  return String(n)
}
