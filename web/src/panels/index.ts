import type { FunctionComponent } from 'preact'
import { NetworkPanel } from './network.js'
import { ChatPanel } from './chat.js'
import { ModelsPanel } from './models.js'
import { CabinetsPanel } from './cabinets.js'
import { FederatedPanel } from './federated.js'
import { StatisticsPanel } from './statistics.js'
import { LedgerPanel } from './ledger.js'
import { GovernancePanel } from './governance.js'

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
  { id: 'cabinets', title: 'Cabinets', component: CabinetsPanel },
  { id: 'federated', title: 'Federated learning', component: FederatedPanel },
  { id: 'statistics', title: 'Statistics', component: StatisticsPanel },
  { id: 'ledger', title: 'Ledger and rewards', component: LedgerPanel },
  { id: 'governance', title: 'Governance', component: GovernancePanel }
]
