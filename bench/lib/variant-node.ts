/**
 * `plexus start` with bench-only network variants patched in at run time (src/ is untouched):
 * `node dist/bench/lib/variant-node.js --json start …` takes the same flags as bin/plexus.js, and
 * `PLEXUS_BENCH_VARIANT` lists the variants of bench/lib/p2p-variants.ts (comma-separated). The
 * caller sets `UV_THREADPOOL_SIZE=1`, as the launcher does.
 *
 * @packageDocumentation
 */
import { PlexusNetwork } from '../../src/p2p/network.js'
import { applyVariants, parseVariants } from './p2p-variants.js'

const variants = parseVariants(process.env.PLEXUS_BENCH_VARIANT ?? '')
if (variants.length > 0) {
  const start = PlexusNetwork.start.bind(PlexusNetwork)
  PlexusNetwork.start = async (...args: Parameters<typeof PlexusNetwork.start>) => {
    const network = await start(...args)
    applyVariants(network, variants)
    return network
  }
}

// The CLI parses process.argv like bin/plexus.js does.
await import('../../src/cli/main.js')
