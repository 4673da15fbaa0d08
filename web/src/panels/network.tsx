import { useApi } from '../lib/hooks.js'
import { Card, Empty, ErrorNote, fmt, Loading, Panel, Short, Table } from '../lib/ui.js'
import type { NetworkStatus, NodeStatus, Peer } from '../lib/types.js'

const SIZE = 360
const CENTRE = SIZE / 2

/** This node in the middle, its peers around it; line style = connected, colour = reputation. */
function PeerGraph (props: { self: string, peers: Peer[] }) {
  const n = props.peers.length
  const radius = n === 0 ? 0 : 130
  return (
    <svg class='peer-graph' viewBox={`0 0 ${SIZE} ${SIZE}`} role='img' aria-label={`This node and ${n} peer${n === 1 ? '' : 's'}`}>
      {props.peers.map((p, i) => {
        const a = (2 * Math.PI * i) / Math.max(1, n) - Math.PI / 2
        const x = CENTRE + radius * Math.cos(a)
        const y = CENTRE + radius * Math.sin(a)
        // Reputation runs from -20 to 20 (src/p2p/peer-table.ts): red, amber when new, green.
        const hue = Math.round(120 * Math.max(0, Math.min(1, (p.reputation + 20) / 40)))
        return (
          <g key={p.peerId}>
            <line x1={CENTRE} y1={CENTRE} x2={x} y2={y} class={p.connected ? 'edge' : 'edge down'} />
            {p.latencyMs != null && <text x={(CENTRE + x) / 2} y={(CENTRE + y) / 2 - 4} class='edge-label'>{Math.round(p.latencyMs)} ms</text>}
            <circle cx={x} cy={y} r={16} style={{ fill: p.excluded ? '#9ca3af' : `hsl(${hue} 70% 45%)` }}>
              <title>{`${p.peerId}\nreputation ${fmt(p.reputation)}${p.excluded ? ' (excluded)' : ''}`}</title>
            </circle>
            <text x={x} y={y + 30} class='node-label'>{p.peerId.slice(-6)}</text>
          </g>
        )
      })}
      <circle cx={CENTRE} cy={CENTRE} r={22} class='self'><title>{props.self}</title></circle>
      <text x={CENTRE} y={CENTRE + 38} class='node-label'>this node</text>
    </svg>
  )
}

export function NetworkPanel () {
  const status = useApi<NodeStatus>('/api/plexus/status', 5000)
  const network = useApi<NetworkStatus>('/api/plexus/network', 5000)
  const peers = useApi<{ peers: Peer[] }>('/api/plexus/peers', 5000)
  const off = network.error != null && (network.error as { code?: string }).code === 'PLX_ERR_NETWORK_OFF'

  return (
    <Panel title='Network'>
      <ErrorNote error={status.error} />
      <div class='grid two'>
        <Card title='This node'>
          <Loading loading={status.data == null && status.loading}>
            {status.data != null && (
              <dl class='facts'>
                <dt>Node id</dt><dd><Short value={status.data.nodeId} /></dd>
                <dt>Version</dt><dd>{status.data.version}</dd>
                <dt>Up for</dt><dd>{fmt(Math.round(status.data.uptimeSeconds))} s</dd>
                <dt>Models</dt><dd>{status.data.models.length} installed, {status.data.loaded.length} loaded</dd>
                <dt>Queue</dt><dd>{status.data.queue.active} running, {status.data.queue.waiting} waiting</dd>
                <dt>Network</dt><dd>{status.data.network == null ? 'off' : `${status.data.network.networkId}, ${status.data.network.connections} connection(s)`}</dd>
                {status.data.network != null && <><dt>Addresses</dt><dd>{status.data.network.multiaddrs.map(a => <div key={a}><code>{a}</code></div>)}</dd></>}
              </dl>
            )}
          </Loading>
        </Card>
        <Card title='Peers'>
          {off
            ? <Empty>The peer-to-peer network is off on this node.</Empty>
            : <>
              <ErrorNote error={peers.error} />
              {peers.data != null && status.data != null && <PeerGraph self={status.data.nodeId} peers={peers.data.peers} />}
            </>}
        </Card>
      </div>
      {!off && peers.data != null && (
        peers.data.peers.length === 0
          ? <Empty>No peers yet.</Empty>
          : <Table
              caption='Peers that advertised capabilities'
              rows={peers.data.peers}
              rowKey={p => p.peerId}
              columns={[
                { label: 'Peer', value: p => <Short value={p.peerId} /> },
                { label: 'Address', value: p => <code title={p.addresses.join('\n')}>{p.addresses[0]?.replace(/\/p2p\/.*$/, '') ?? '–'}</code> },
                { label: 'Latency', value: p => p.latencyMs == null ? '–' : `${Math.round(p.latencyMs)} ms`, numeric: true },
                { label: 'Models', value: p => p.models.map(m => m.name).join(', ') || '–' },
                { label: 'Load', value: p => `${p.load.active}/${p.load.parallel} (+${p.load.waiting})`, numeric: true },
                { label: 'Reputation', value: p => fmt(p.reputation), numeric: true },
                { label: 'State', value: p => p.excluded ? `excluded: ${p.excludedReason ?? ''}` : (p.connected ? 'connected' : 'not connected') }
              ]}
            />
      )}
      {network.data != null && (
        <p class='muted'>Community serving {network.data.community.serve ? 'on' : 'off'} · served {network.data.inference.served} · requested {network.data.inference.requested} · default privacy {network.data.router.defaultPrivacy}</p>
      )}
    </Panel>
  )
}
