/**
 * Module resolve hook (`node:module` `register`) that loads `node-llama-cpp` from another copy of
 * the package — the benchmark's prebuilt-only copy (nlc-prebuilt.ts) — so that a node started
 * for the HTTP benchmark runs the prebuilt binary even where the project has a local build.
 * Registered by nlc-redirect-register.ts (`node --import`), which passes the entry here.
 *
 * @packageDocumentation
 */
import { pathToFileURL } from 'node:url'

let entryUrl: string | null = null

/** Receives `{ entry }` from `register()`. */
export function initialize (data: { entry: string }): void {
  entryUrl = pathToFileURL(data.entry).href
}

type NextResolve = (specifier: string, context: unknown) => Promise<{ url: string }>

/** Resolves the bare `node-llama-cpp` to the copy's entry; everything else as usual. */
export async function resolve (specifier: string, context: unknown, nextResolve: NextResolve): Promise<{ url: string, shortCircuit?: boolean }> {
  if (specifier === 'node-llama-cpp' && entryUrl != null) return { url: entryUrl, shortCircuit: true }
  return await nextResolve(specifier, context)
}
