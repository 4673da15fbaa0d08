import type { ComponentChildren } from 'preact'

/** A panel's frame: a heading, an optional toolbar, the content. */
export function Panel (props: { title: string, actions?: ComponentChildren, children: ComponentChildren }) {
  return (
    <section class='panel' aria-label={props.title}>
      <header class='panel-head'>
        <h2>{props.title}</h2>
        {props.actions != null && <div class='panel-actions'>{props.actions}</div>}
      </header>
      {props.children}
    </section>
  )
}

/** A titled box inside a panel. */
export function Card (props: { title?: string, children: ComponentChildren, class?: string }) {
  return (
    <div class={`card ${props.class ?? ''}`}>
      {props.title != null && <h3>{props.title}</h3>}
      {props.children}
    </div>
  )
}

/** An error as one sentence, with its code when the node gave one. */
export function ErrorNote (props: { error: Error | undefined | null }) {
  if (props.error == null) return null
  const code = (props.error as { code?: string }).code
  return <p class='error' role='alert'>{props.error.message}{code != null && !code.startsWith('HTTP_') && <span class='code'> ({code})</span>}</p>
}

/** Shown while the first answer is on its way. */
export function Loading (props: { loading: boolean, children?: ComponentChildren }) {
  return props.loading ? <p class='muted' aria-busy='true'>Loading…</p> : <>{props.children}</>
}

export function Empty (props: { children: ComponentChildren }) {
  return <p class='muted empty'>{props.children}</p>
}

export interface Column<T> {
  label: string
  value: (row: T) => ComponentChildren
  /** Right-align numbers. */
  numeric?: boolean
}

/** A plain data table. */
export function Table<T> (props: { rows: T[], columns: Array<Column<T>>, rowKey: (row: T, i: number) => string, caption?: string }) {
  return (
    <div class='table-wrap'>
      <table>
        {props.caption != null && <caption>{props.caption}</caption>}
        <thead><tr>{props.columns.map(c => <th key={c.label} class={c.numeric === true ? 'num' : ''} scope='col'>{c.label}</th>)}</tr></thead>
        <tbody>
          {props.rows.map((r, i) => (
            <tr key={props.rowKey(r, i)}>{props.columns.map(c => <td key={c.label} class={c.numeric === true ? 'num' : ''}>{c.value(r)}</td>)}</tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** Shortens a peer id or hash for display; the full value is in the tooltip. */
export function Short (props: { value: string, keep?: number }) {
  const keep = props.keep ?? 8
  const v = props.value
  return <code title={v}>{v.length > keep * 2 + 1 ? `${v.slice(0, keep)}…${v.slice(-4)}` : v}</code>
}

export function fmt (n: number | null | undefined, digits = 3): string {
  if (n == null || Number.isNaN(n)) return '–'
  if (Number.isInteger(n)) return n.toLocaleString('en')
  return n.toLocaleString('en', { maximumSignificantDigits: digits + 1 })
}
