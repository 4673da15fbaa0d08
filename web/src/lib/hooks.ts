import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiError, onKeyChange } from './api.js'

export interface Loaded<T> {
  data: T | undefined
  error: ApiError | Error | undefined
  loading: boolean
  /** Fetches again now. */
  reload: () => void
}

/**
 * GETs `path` (again whenever it changes, the API key changes, or every `refreshMs` if given) and
 * keeps the last good answer while a reload is in flight. `path` null means "nothing to load".
 */
export function useApi<T> (path: string | null, refreshMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined)
  const [error, setError] = useState<ApiError | Error | undefined>(undefined)
  const [loading, setLoading] = useState(path != null)
  const [tick, setTick] = useState(0)
  const reload = useCallback(() => setTick(t => t + 1), [])

  useEffect(() => onKeyChange(reload), [reload])

  useEffect(() => {
    if (path == null) { setLoading(false); return }
    const controller = new AbortController()
    setLoading(true)
    api<T>(path, { signal: controller.signal })
      .then(d => { setData(d); setError(undefined) })
      .catch((e: unknown) => { if (!controller.signal.aborted) setError(e instanceof Error ? e : new Error(String(e))) })
      .finally(() => { if (!controller.signal.aborted) setLoading(false) })
    return () => controller.abort()
  }, [path, tick])

  useEffect(() => {
    if (refreshMs == null || path == null) return
    const t = setInterval(reload, refreshMs)
    return () => clearInterval(t)
  }, [refreshMs, path, reload])

  return { data, error, loading, reload }
}

/** Runs an action (a POST, say) and tracks whether it is running and how it failed. */
export function useAction<A extends unknown[], R> (action: (...args: A) => Promise<R>): {
  run: (...args: A) => Promise<R | undefined>
  running: boolean
  error: Error | undefined
  clearError: () => void
} {
  const [running, setRunning] = useState(false)
  const [error, setError] = useState<Error | undefined>(undefined)
  const ref = useRef(action)
  ref.current = action
  const run = useCallback(async (...args: A): Promise<R | undefined> => {
    setRunning(true)
    setError(undefined)
    try {
      return await ref.current(...args)
    } catch (e) {
      setError(e instanceof Error ? e : new Error(String(e)))
      return undefined
    } finally {
      setRunning(false)
    }
  }, [])
  return { run, running, error, clearError: () => setError(undefined) }
}
