import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { PlexusError } from '../errors.js'

export interface PassphraseSource {
  /** `--passphrase-file`: the first line of the file. */
  file?: string
  /** Environment variable to read (e.g. PLEXUS_PASSPHRASE). */
  envVar: string
  /** Prompt shown on an interactive terminal. */
  prompt: string
  /** Ask twice and compare (new passphrases). */
  confirm?: boolean
}

/** Reads a line from the terminal without echoing it. */
async function promptHidden (prompt: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
  const mutable = rl as unknown as { _writeToOutput: (s: string) => void }
  let muted = false
  mutable._writeToOutput = (s: string) => { if (!muted || s.includes('\n')) process.stderr.write(muted ? '\n' : s) }
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.question(prompt, answer => resolve(answer))
      muted = true
      rl.once('SIGINT', () => reject(new PlexusError('PLX_ERR_ABORTED')))
    })
  } finally {
    rl.close()
  }
}

/**
 * A passphrase from `--passphrase-file`, else the environment variable, else an interactive prompt
 * (never echoed). Without a terminal and without the other two, a clear error.
 */
export async function readPassphrase (source: PassphraseSource): Promise<string> {
  if (source.file != null) {
    let text: string
    try { text = readFileSync(source.file, 'utf8') } catch (err) {
      throw new PlexusError('PLX_ERR_BAD_REQUEST', [`Cannot read passphrase file ${source.file}: ${(err as Error).message}`])
    }
    const line = text.split(/\r?\n/)[0] ?? ''
    if (line === '') throw new PlexusError('PLX_ERR_BAD_REQUEST', [`Passphrase file ${source.file} is empty`])
    return line
  }
  const env = process.env[source.envVar]
  if (env != null && env !== '') return env
  if (process.stdin.isTTY !== true) {
    throw new PlexusError('PLX_ERR_BAD_REQUEST', [`No passphrase: pass --passphrase-file FILE or set ${source.envVar} (there is no terminal to ask on)`])
  }
  const first = await promptHidden(source.prompt)
  if (source.confirm === true) {
    const second = await promptHidden('Repeat it: ')
    if (first !== second) throw new PlexusError('PLX_ERR_BAD_REQUEST', ['The two passphrases differ'])
  }
  return first
}
