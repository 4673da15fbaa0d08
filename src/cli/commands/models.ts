import type { Command } from 'commander'
import { ModelRegistry, type ModelRecord } from '../../inference/registry.js'
import { modelNameFromUrl, pullAndRegister } from '../../inference/install.js'
import { ensureDataDir } from '../../node/data-dir.js'
import { resolveDataDir } from '../../node/data-dir.js'
import { output, table, formatBytes, formatCount, type GlobalOptions } from '../output.js'
import { createDownloadProgress } from '../progress.js'

function registryFor (g: GlobalOptions): ModelRegistry {
  const paths = ensureDataDir(resolveDataDir(g.dataDir))
  return new ModelRegistry({ registryFile: paths.modelRegistry, storeDir: paths.models })
}

function describe (m: ModelRecord): string {
  return [
    `name           ${m.name}`,
    `sha256         ${m.sha256}`,
    `path           ${m.path}`,
    `size           ${formatBytes(m.sizeBytes)}`,
    `architecture   ${m.metadata.architecture}`,
    `parameters     ${formatCount(m.metadata.parameters)}`,
    `context length ${m.metadata.contextLength ?? 'unknown'}`,
    `quantization   ${m.metadata.quantization}`,
    `chat template  ${m.metadata.chatTemplate != null ? 'from the model file' : 'none in the file (Plexus picks one by architecture; see README)'}`
  ].join('\n')
}

export function registerModels (program: Command): void {
  const models = program.command('models').description('manage the models this node serves')

  models
    .command('add <path>')
    .description('register a local GGUF file (reads its header, hashes it)')
    .option('--name <name>', 'name to serve it under (default: file name without .gguf)')
    .option('--copy', 'copy the file into the data directory instead of using it in place')
    .action(async (path: string, opts: { name?: string, copy?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const record = await registryFor(g).add(path, { name: opts.name, store: opts.copy === true ? 'copy' : 'reference' })
      output(g.json, record, () => `added ${record.name}\n${describe(record)}`)
    })

  models
    .command('list')
    .alias('ls')
    .description('list registered models')
    .action((_opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const list = registryFor(g).list()
      output(g.json, list, () => list.length === 0
        ? 'No models registered. Add one with `plexus models add PATH` (plexus start registers the embedded default).'
        : table(['NAME', 'SHA256', 'SIZE', 'ARCH', 'PARAMS', 'QUANT', 'CTX'], list.map(m => [
          m.name, m.sha256.slice(0, 12), formatBytes(m.sizeBytes), m.metadata.architecture, formatCount(m.metadata.parameters), m.metadata.quantization, m.metadata.contextLength ?? '?'
        ])))
    })

  models
    .command('show <name>')
    .description('show a model\'s metadata')
    .action((name: string, _opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const record = registryFor(g).get(name)
      output(g.json, record, () => describe(record))
    })

  models
    .command('rm <name>')
    .alias('remove')
    .description('unregister a model (its file is deleted only if Plexus downloaded or copied it)')
    .action((name: string, _opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const record = registryFor(g).remove(name)
      output(g.json, { removed: record.name, deletedFile: record.owned }, () => `removed ${record.name}${record.owned ? ` and deleted ${record.path}` : ''}`)
    })

  models
    .command('pull <url>')
    .description('download a GGUF model over HTTP(S), resumably, and register it')
    .option('--sha256 <hex>', 'expected sha256; a mismatch deletes the download')
    .option('--name <name>', 'name to serve it under (default: from the URL)')
    .action(async (url: string, opts: { sha256?: string, name?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const registry = registryFor(g)
      const name = opts.name ?? modelNameFromUrl(url) ?? 'model'
      const progress = createDownloadProgress({ enabled: g.json !== true, label: name })
      const controller = new AbortController()
      const onSigint = (): void => controller.abort()
      process.once('SIGINT', onSigint)
      try {
        const { record, resumedFrom, alreadyRegistered } = await pullAndRegister(registry, url, { name: opts.name, sha256: opts.sha256, signal: controller.signal, onProgress: p => progress.update(p) })
        progress.stop()
        output(g.json, { ...record, resumedFrom, alreadyRegistered }, () =>
          alreadyRegistered ? `already registered as ${record.name} (same sha256)` : `pulled ${record.name}${resumedFrom > 0 ? ` (resumed at ${formatBytes(resumedFrom)})` : ''}\n${describe(record)}`)
      } finally {
        progress.stop()
        process.off('SIGINT', onSigint)
      }
    })
}
