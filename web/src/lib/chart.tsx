import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { fmt } from './ui.js'

export interface Series {
  label: string
  /** One value per x; null leaves a gap. */
  values: Array<number | null>
  color: string
}

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2']
export function color (i: number): string { return PALETTE[i % PALETTE.length] ?? '#2563eb' }

/**
 * A line chart (uPlot) that follows its container's width and redraws when the data change —
 * cheap enough to feed one point per training round.
 */
export function LineChart (props: { x: number[], series: Series[], xLabel: string, yLabel?: string, height?: number, title: string, bars?: boolean, /** x is a count (rounds, epochs): ticks on whole numbers only. */ integerX?: boolean, /** x is 0, 1, …: these names on its ticks. */ categories?: string[] }) {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const shape = `${props.series.map(s => s.label).join('|')}|${props.bars === true ? 'bars' : 'lines'}`

  useEffect(() => {
    const el = box.current
    if (el == null) return
    const opts: uPlot.Options = {
      title: props.title,
      width: Math.max(200, el.clientWidth),
      height: props.height ?? 220,
      scales: {
        // One x value (a first round, a first epoch) gets a range of ±1 around it, not uPlot's wide
        // default; bars get half a step of room on either side.
        x: {
          time: false,
          range: (u, min, max) => {
            const xs = u.data[0]
            const first = xs[0]
            const last = xs[xs.length - 1]
            if (first == null || last == null) return [min, max]
            const step = xs.length > 1 ? (last - first) / (xs.length - 1) : 1
            if (props.bars === true) return [first - step / 2, last + step / 2]
            return xs.length === 1 ? [first - 1, first + 1] : [min, max]
          }
        },
        ...(props.bars === true ? { y: { range: (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [0, max > 0 ? max * 1.1 : 1] } } : {})
      },
      axes: [
        {
          label: props.xLabel,
          ...(props.integerX === true || props.categories != null ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 100_000, 1_000_000] } : {}),
          ...(props.categories != null ? { values: (_u: uPlot, splits: number[]) => splits.map(v => props.categories?.[v] ?? '') } : {})
        },
        // Small values (rewards of a short epoch) keep their significant digits on the axis.
        { label: props.yLabel ?? '', size: (_u, values) => 16 + 7 * Math.max(3, ...(values ?? []).map(v => String(v).length)), values: (_u, splits) => splits.map(v => fmt(v)) }
      ],
      series: [
        { label: props.xLabel },
        ...props.series.map(s => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          fill: props.bars === true ? `${s.color}55` : undefined,
          paths: props.bars === true ? uPlot.paths.bars?.({ size: [0.6, 40] }) : undefined,
          points: { show: props.x.length < 40 }
        }))
      ]
    }
    const u = new uPlot(opts, [props.x, ...props.series.map(s => s.values)] as uPlot.AlignedData, el)
    plot.current = u
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: props.height ?? 220 }))
    resize.observe(el)
    return () => { resize.disconnect(); u.destroy(); plot.current = null }
  }, [shape])

  useEffect(() => {
    plot.current?.setData([props.x, ...props.series.map(s => s.values)] as uPlot.AlignedData)
  }, [props.x, props.series])

  return <div class='chart' ref={box} role='img' aria-label={props.title} data-points={props.x.length} />
}
