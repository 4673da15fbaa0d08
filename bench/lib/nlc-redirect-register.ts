/**
 * `node --import` this file with `PLEXUS_BENCH_NLC_ENTRY=<path of a node-llama-cpp entry>` to
 * make the process load that copy of node-llama-cpp (nlc-redirect.ts). Without the variable it
 * does nothing.
 *
 * @packageDocumentation
 */
import { register } from 'node:module'

const entry = process.env.PLEXUS_BENCH_NLC_ENTRY
if (entry != null && entry !== '') register('./nlc-redirect.js', import.meta.url, { data: { entry } })
