import cliProgress from 'cli-progress'

/** What a download reports; the same shape as `PullProgress` from `inference/pull.ts`. */
export interface DownloadProgressUpdate {
  receivedBytes: number
  totalBytes: number | null
  resumedFrom: number
}

export interface DownloadProgress {
  update: (p: DownloadProgressUpdate) => void
  /** Draws the last state and moves to the next line. Safe to call more than once. */
  stop: () => void
}

export interface DownloadProgressInit {
  /** False for `--json` (and anything else that wants clean output). */
  enabled: boolean
  /** Shown before the bar, e.g. the model name. */
  label: string
  /** Where the bar is drawn (default stderr, so that stdout stays for results). */
  stream?: NodeJS.WriteStream
}

/** Redraws per second: smooth enough to read, cheap on a slow terminal. */
const PROGRESS_FPS = 8

/** Speed is averaged over the whole download so far, ignoring the first moments' noise. */
const MIN_SPEED_WINDOW_MS = 500

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** `1185376` → `1.1 MiB`. */
export function formatBytes (n: number): string {
  let v = n
  let u = 0
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${UNITS[u]}`
}

/** `3725` → `1h02m`, `75` → `1m15s`, `8` → `8s`. */
export function formatDuration (seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--'
  const s = Math.round(seconds)
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${s}s`
}

const NOOP: DownloadProgress = { update () {}, stop () {} }

/**
 * A progress bar for a download: bytes, percent, speed and ETA. It draws only when `enabled` and
 * both stdout and the target stream are terminals; otherwise it is a no-op, so callers never branch.
 */
export function createDownloadProgress (init: DownloadProgressInit): DownloadProgress {
  const stream = init.stream ?? process.stderr
  if (!init.enabled || process.stdout.isTTY !== true || stream.isTTY !== true) return NOOP

  let bar: cliProgress.SingleBar | null = null
  let startedAt = 0
  let startBytes = 0
  let last: DownloadProgressUpdate | null = null

  const payload = (p: DownloadProgressUpdate): Record<string, string> => {
    const elapsedMs = Date.now() - startedAt
    const speed = elapsedMs >= MIN_SPEED_WINDOW_MS ? (p.receivedBytes - startBytes) / (elapsedMs / 1000) : 0
    const remaining = p.totalBytes != null ? Math.max(0, p.totalBytes - p.receivedBytes) : null
    return {
      receivedText: formatBytes(p.receivedBytes),
      totalText: p.totalBytes != null ? formatBytes(p.totalBytes) : '?',
      speed: speed > 0 ? `${formatBytes(speed)}/s` : '--',
      etaText: remaining != null && speed > 0 ? formatDuration(remaining / speed) : '--',
      resumed: p.resumedFrom > 0 ? ` (resumed at ${formatBytes(p.resumedFrom)})` : ''
    }
  }

  return {
    update (p) {
      last = p
      if (bar == null) {
        startedAt = Date.now()
        startBytes = p.receivedBytes
        bar = new cliProgress.SingleBar({
          stream,
          fps: PROGRESS_FPS,
          hideCursor: true,
          barsize: 30,
          format: p.totalBytes != null
            ? `${init.label} [{bar}] {percentage}% | {receivedText}/{totalText} | {speed} | ETA {etaText}{resumed}`
            // Without a total there is nothing to fill a bar with: show what came and how fast.
            : `${init.label} {receivedText} | {speed}{resumed}`
        }, cliProgress.Presets.shades_classic)
        bar.start(p.totalBytes ?? 0, p.receivedBytes, payload(p))
        return
      }
      if (p.totalBytes != null && p.totalBytes !== bar.getTotal()) bar.setTotal(p.totalBytes)
      bar.update(p.receivedBytes, payload(p))
    },
    stop () {
      if (bar == null) return
      if (last != null) bar.update(last.receivedBytes, payload(last))
      bar.stop()
      bar = null
    }
  }
}

export interface CountProgress {
  update: (done: number, total: number) => void
  stop: () => void
}

/** A progress bar over a count of items (files ingested); a no-op without a terminal. */
export function createCountProgress (init: { enabled: boolean, label: string, stream?: NodeJS.WriteStream }): CountProgress {
  const stream = init.stream ?? process.stderr
  if (!init.enabled || process.stdout.isTTY !== true || stream.isTTY !== true) return { update () {}, stop () {} }
  let bar: cliProgress.SingleBar | null = null
  return {
    update (done, total) {
      if (bar == null) {
        bar = new cliProgress.SingleBar({ stream, fps: PROGRESS_FPS, hideCursor: true, barsize: 30, format: `${init.label} [{bar}] {value}/{total} files | ETA {eta_formatted}` }, cliProgress.Presets.shades_classic)
        bar.start(total, done)
        return
      }
      if (total !== bar.getTotal()) bar.setTotal(total)
      bar.update(done)
    },
    stop () {
      bar?.stop()
      bar = null
    }
  }
}
