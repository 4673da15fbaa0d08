import type { FunctionComponent } from 'preact'
import { NetworkPanel } from './network.js'

/** The dashboard's panels, in navigation order. Each is a route `#/<id>`. */
export interface PanelEntry {
  id: string
  title: string
  component: FunctionComponent
}

export const PANELS: PanelEntry[] = [
  { id: 'network', title: 'Network', component: NetworkPanel }
]
