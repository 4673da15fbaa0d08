import type { FunctionComponent } from 'preact'
import { NetworkPanel } from './network.js'
import { ChatPanel } from './chat.js'
import { ModelsPanel } from './models.js'
import { CabinetsPanel } from './cabinets.js'

/** The dashboard's panels, in navigation order. Each is a route `#/<id>`. */
export interface PanelEntry {
  id: string
  title: string
  component: FunctionComponent
}

export const PANELS: PanelEntry[] = [
  { id: 'network', title: 'Network', component: NetworkPanel },
  { id: 'chat', title: 'Chat', component: ChatPanel },
  { id: 'models', title: 'Models', component: ModelsPanel },
  { id: 'cabinets', title: 'Cabinets', component: CabinetsPanel }
]
