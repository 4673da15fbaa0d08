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
export function LineChart (props: { x: number[], series: Series[], xLabel: string, yLabel?: string, height?: number, title: string, bars?: boolean }) {
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
      // One x value (a first round, a first epoch) gets a range of ±1 around it, not uPlot's wide default.
      scales: { x: { time: false, range: (_u, min, max) => min === max ? [min - 1, max + 1] : [min, max] } },
      // Small values (rewards of a short epoch) keep their significant digits on the axis.
      axes: [{ label: props.xLabel }, { label: props.yLabel ?? '', values: (_u, splits) => splits.map(v => fmt(v)) }],
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
