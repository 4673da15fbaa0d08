import type { Command } from 'commander'
import { resolveDataDir } from '../../node/data-dir.js'
import { cabinetBackend, type CabinetBackend } from '../cabinet-backend.js'
import { readPassphrase } from '../passphrase.js'
import { output, table, formatBytes, type GlobalOptions } from '../output.js'
import { intOption } from '../parse.js'
import { createCountProgress } from '../progress.js'

interface CabinetOptions {
  url?: string
  passphraseFile?: string
  newPassphraseFile?: string
}

/** Shared flags of every cabinet command. */
function withCommon (cmd: Command): Command {
  return cmd
    .option('--passphrase-file <file>', 'read the passphrase from the first line of FILE (else PLEXUS_PASSPHRASE, else a prompt)')
    .option('--url <url>', 'node to use (default: the node running on the data directory, else work on the data directory directly)')
}

/** Runs `fn` with a backend (the running node, or the data directory directly) and closes it. */
async function run (cmd: Command, fn: (b: CabinetBackend, o: CabinetOptions & GlobalOptions) => Promise<void>): Promise<void> {
  const o = cmd.optsWithGlobals<CabinetOptions & GlobalOptions>()
  const backend = await cabinetBackend(
    { dataDir: resolveDataDir(o.dataDir), url: o.url },
    async () => await readPassphrase({ file: o.passphraseFile, envVar: 'PLEXUS_PASSPHRASE', prompt: 'Cabinet passphrase: ' })
  )
  try {
    await fn(backend, o)
  } finally {
    await backend.close()
  }
}

const date = (ms: number | null): string => ms == null ? '-' : new Date(ms).toISOString().slice(0, 19).replace('T', ' ')

export function registerCabinet (program: Command): void {
  const cabinet = program.command('cabinet').description('encrypted document cabinets: ingest, search and ask, all on this node')

  withCommon(cabinet.command('create <name>'))
    .description('create an encrypted cabinet (asks for a new passphrase)')
    .option('--embedding-model <model>', 'registered model to embed chunks with (else lexical search only)')
    .action(async (name: string, opts: { embeddingModel?: string }, cmd: Command) => {
      await run(cmd, async (b, o) => {
        const passphrase = await readPassphrase({ file: o.passphraseFile, envVar: 'PLEXUS_PASSPHRASE', prompt: 'New cabinet passphrase: ', confirm: true })
        const s = await b.create(name, passphrase, opts.embeddingModel)
        output(o.json, s, () => `created cabinet ${s.name}${b.kind === 'node' ? ' (unlocked on the node)' : ''}`)
      })
    })

  withCommon(cabinet.command('list').alias('ls'))
    .description('list cabinets')
    .action(async (_opts, cmd: Command) => {
      await run(cmd, async (b, o) => {
        const list = await b.list()
        output(o.json, list, () => list.length === 0
          ? 'No cabinets. Create one with `plexus cabinet create NAME`.'
          : table(['NAME', 'STATE', 'SIZE', 'DOCUMENTS', 'CHUNKS', 'EMBEDDINGS'], list.map(c => [
            c.name, c.locked ? 'locked' : 'unlocked', formatBytes(c.fileBytes), c.stats?.documents ?? '-', c.stats?.chunks ?? '-',
            c.stats == null ? '-' : c.stats.embeddingModel?.name ?? 'none (lexical only)'
          ])))
      })
    })

  withCommon(cabinet.command('ingest <name> <paths...>'))
    .description('add files and folders (recursively); re-ingesting only processes changes and removes deleted files')
    .action(async (name: string, paths: string[], _opts, cmd: Command) => {
      await run(cmd, async (b, o) => {
        const bar = createCountProgress({ enabled: o.json !== true, label: `ingest ${name}` })
        try {
          const r = await b.ingest(name, paths, p => bar.update(p.filesDone, p.filesTotal))
          bar.stop()
          output(o.json, r, () => [
            `${r.added} added, ${r.updated} updated, ${r.unchanged} unchanged, ${r.removed} removed, ${r.chunks} new chunks`,
            ...r.skipped.map(s => `skipped ${s.path}: ${s.reason}`)
          ].join('\n'))
        } finally {
          bar.stop()
        }
      })
    })

  withCommon(cabinet.command('search <name> <query>'))
    .description('search a cabinet (BM25; hybrid with vectors when it has an embedding model)')
    .option('--top-k <n>', 'hits to return', intOption('--top-k', 1, 100), 5)
    .option('--mode <mode>', 'lexical, vector or hybrid', 'hybrid')
    .action(async (name: string, query: string, opts: { topK: number, mode: 'lexical' | 'vector' | 'hybrid' }, cmd: Command) => {
      await run(cmd, async (b, o) => {
        const r = await b.search(name, query, { topK: opts.topK, mode: opts.mode })
        output(o.json, r, () => [
          r.fallbackReason != null ? `(${r.mode} search: ${r.fallbackReason})` : '',
          ...r.hits.map((h, i) => `${i + 1}. ${h.documentPath}  chunk ${h.chunkId}  score ${h.score.toFixed(3)}\n   ${h.snippet}`)
        ].filter(l => l !== '').join('\n') || 'No matches.')
      })
    })

  withCommon(cabinet.command('ask <name> <question>'))
    .description('answer a question from the cabinet, with citations (never leaves this node)')
    .option('--top-k <n>', 'passages to use', intOption('--top-k', 1, 100), 5)
    .option('--model <name>', 'model to answer with (default: the node\'s default)')
    .option('--mode <mode>', 'auto, generated or extractive', 'auto')
    .action(async (name: string, question: string, opts: { topK: number, model?: string, mode: 'auto' | 'generated' | 'extractive' }, cmd: Command) => {
      await run(cmd, async (b, o) => {
        const r = await b.ask(name, question, { topK: opts.topK, model: opts.model, mode: opts.mode })
        output(o.json, r, () => [r.answer, '', 'Sources:', ...r.citations.map(c => `[${c.index}] ${c.documentPath} (chunk ${c.chunkId}, score ${c.score.toFixed(3)})`)].join('\n'))
      })
    })

  withCommon(cabinet.command('unlock <name>'))
    .description('unlock a cabinet on the running node (without a node, only checks the passphrase)')
    .action(async (name: string, _opts, cmd: Command) => {
      await run(cmd, async (b, o) => {
        const s = await b.unlock(name, await readPassphrase({ file: o.passphraseFile, envVar: 'PLEXUS_PASSPHRASE', prompt: 'Cabinet passphrase: ' }))
        output(o.json, s, () => b.kind === 'node' ? `unlocked ${name}` : `passphrase accepted; no node is running, so each command unlocks ${name} for itself`)
      })
    })

  withCommon(cabinet.command('lock <name>'))
    .description('lock a cabinet on the running node (forgets its keys)')
    .action(async (name: string, _opts, cmd: Command) => {
      await run(cmd, async (b, o) => {
        await b.lock(name)
        output(o.json, { name, locked: true }, () => `locked ${name}`)
      })
    })

  withCommon(cabinet.command('passwd <name>'))
    .description('change the passphrase (re-wraps the key; the data is not re-encrypted)')
    .option('--new-passphrase-file <file>', 'read the new passphrase from FILE (else PLEXUS_NEW_PASSPHRASE, else a prompt)')
    .action(async (name: string, _opts, cmd: Command) => {
      await run(cmd, async (b, o) => {
        const oldPassphrase = await readPassphrase({ file: o.passphraseFile, envVar: 'PLEXUS_PASSPHRASE', prompt: 'Current passphrase: ' })
        const newPassphrase = await readPassphrase({ file: o.newPassphraseFile, envVar: 'PLEXUS_NEW_PASSPHRASE', prompt: 'New passphrase: ', confirm: true })
        await b.passwd(name, oldPassphrase, newPassphrase)
        output(o.json, { name, changed: true }, () => `passphrase of ${name} changed`)
      })
    })

  withCommon(cabinet.command('reindex <name>'))
    .description('rebuild the full-text index with other tokenizer settings (those not given stay)')
    .option('--stemming', 'Porter-stem English words')
    .option('--no-stemming', 'index words as written')
    .option('--diacritics', 'keep accents (café and cafe differ)')
    .option('--no-diacritics', 'fold accents (café matches cafe)')
    .option('--cjk', 'index Chinese, Japanese, Thai, Lao and Khmer text as character pairs')
    .option('--no-cjk', 'index runs of those scripts whole')
    .action(async (name: string, opts: { stemming?: boolean, diacritics?: boolean, cjk?: boolean }, cmd: Command) => {
      const changes = {
        ...(opts.stemming != null ? { stemming: opts.stemming } : {}),
        ...(opts.diacritics != null ? { removeDiacritics: !opts.diacritics } : {}),
        ...(opts.cjk != null ? { cjkBigrams: opts.cjk } : {})
      }
      await run(cmd, async (b, o) => {
        const r = await b.reindex(name, changes)
        output(o.json, { name, ...r }, () => `re-indexed ${r.chunks} chunk${r.chunks === 1 ? '' : 's'} of ${name}: stemming ${r.tokenizer.stemming ? 'on' : 'off'}, accents ${r.tokenizer.removeDiacritics ? 'folded' : 'kept'}, CJK pairs ${r.tokenizer.cjkBigrams ? 'on' : 'off'}`)
      })
    })

  withCommon(cabinet.command('rm <name>'))
    .description('delete a cabinet and everything in it (asks for its passphrase)')
    .action(async (name: string, _opts, cmd: Command) => {
      await run(cmd, async (b, o) => {
        await b.remove(name, await readPassphrase({ file: o.passphraseFile, envVar: 'PLEXUS_PASSPHRASE', prompt: `Passphrase of ${name} (to confirm deletion): ` }))
        output(o.json, { deleted: name }, () => `deleted cabinet ${name}`)
      })
    })

  withCommon(cabinet.command('audit <name>'))
    .description('show the audit log: every ingest, search and ask (queries are stored as keyed hashes)')
    .option('--limit <n>', 'entries', intOption('--limit', 1, 10_000), 50)
    .action(async (name: string, opts: { limit: number }, cmd: Command) => {
      await run(cmd, async (b, o) => {
        const entries = await b.audit(name, opts.limit)
        output(o.json, entries, () => entries.length === 0
          ? 'No entries.'
          : table(['TIME', 'ACTION', 'CALLER', 'RESULTS', 'QUERY HASH'], entries.map(e => [date(e.at), e.action, e.caller ?? '-', e.resultCount ?? '-', e.queryHash?.slice(0, 16) ?? '-'])))
      })
    })

  withCommon(cabinet.command('documents <name>'))
    .description('list the documents in a cabinet')
    .action(async (name: string, _opts, cmd: Command) => {
      await run(cmd, async (b, o) => {
        const docs = await b.documents(name)
        output(o.json, docs, () => docs.length === 0
          ? 'No documents.'
          : table(['PATH', 'TITLE', 'SIZE', 'CHUNKS', 'MODIFIED'], docs.map(d => [d.path, d.title ?? '-', formatBytes(d.size), d.chunkCount, date(d.mtime)])))
      })
    })
}
