import { createInterface } from 'node:readline/promises'
import type { Command } from 'commander'
import { nodeFor, callNode, nodeFetch, NodeApiError, type NodeTarget } from '../client.js'
import { sseData } from '../../sse.js'
import { output, type GlobalOptions } from '../output.js'
import { intOption, numberOption } from '../parse.js'

interface ChatOptions {
  model?: string
  prompt?: string
  system?: string
  url?: string
  maxTokens?: number
  temperature?: number
  seed?: number
}

interface Message { role: 'system' | 'user' | 'assistant', content: string }

interface Usage { prompt_tokens: number, completion_tokens: number }

/** Streams one assistant turn, writing text as it arrives; returns the whole text. */
async function streamTurn (target: NodeTarget, body: Record<string, unknown>, onText: (t: string) => void, signal: AbortSignal): Promise<{ text: string, usage: Usage | null, finish: string | null }> {
  const res = await nodeFetch(target, 'POST', '/v1/chat/completions', { ...body, stream: true, stream_options: { include_usage: true } }, signal)
  if (!res.ok || res.body == null) throw await NodeApiError.from(res)
  let text = ''
  let usage: Usage | null = null
  let finish: string | null = null
  for await (const data of sseData(res.body)) {
    const event = JSON.parse(data) as { error?: { message: string }, usage?: Usage, choices?: Array<{ delta?: { content?: string }, finish_reason?: string | null }> }
    if (event.error != null) throw new Error(event.error.message)
    if (event.usage != null) usage = event.usage
    const choice = event.choices?.[0]
    if (choice?.finish_reason != null) finish = choice.finish_reason
    const piece = choice?.delta?.content
    if (piece != null && piece !== '') { text += piece; onText(piece) }
  }
  return { text, usage, finish }
}

async function readStdin (): Promise<string> {
  let s = ''
  for await (const chunk of process.stdin) s += String(chunk)
  return s
}

export function registerChat (program: Command): void {
  program
    .command('chat')
    .description('chat with a model on the running node: interactive, or one-shot with --prompt (or piped stdin)')
    .option('--model <name>', 'model to use (default: the node\'s default)')
    .option('--prompt <text>', 'send one message, print the streamed answer and exit')
    .option('--system <text>', 'system message')
    .option('--max-tokens <n>', 'most tokens per answer', intOption('--max-tokens', 1, 1_048_576))
    .option('--temperature <t>', 'sampling temperature', numberOption('--temperature', 0, 2))
    .option('--seed <n>', 'sampling seed (same seed, same answer)', intOption('--seed', 0, 2 ** 31 - 1))
    .option('--url <url>', 'node to talk to (default: the one running on the data directory; or PLEXUS_URL)')
    .action(async (opts: ChatOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const target = nodeFor(opts, g)
      const history: Message[] = opts.system != null ? [{ role: 'system', content: opts.system }] : []
      const model = opts.model ?? (await callNode<{ defaultModel: string | null }>(target, 'GET', '/api/plexus/status')).defaultModel ?? ''
      const params = { model, max_tokens: opts.maxTokens, temperature: opts.temperature, seed: opts.seed }
      const controller = new AbortController()

      let prompt = opts.prompt
      if (prompt == null && process.stdin.isTTY !== true) prompt = (await readStdin()).trim()
      if (prompt != null) {
        history.push({ role: 'user', content: prompt })
        const r = await streamTurn(target, { ...params, messages: history }, t => { if (g.json !== true) process.stdout.write(t) }, controller.signal)
        output(g.json, { model, content: r.text, finish_reason: r.finish, usage: r.usage }, () => '')
        if (g.json !== true) process.stdout.write('\n')
        return
      }

      const rl = createInterface({ input: process.stdin, output: process.stdout })
      process.stdout.write('Chatting with the node at ' + target.url + '. Type /exit (or Ctrl+D) to leave, /reset to forget the conversation.\n')
      let turn: AbortController | null = null
      rl.on('SIGINT', () => { if (turn != null) turn.abort(); else rl.close() })
      try {
        while (true) {
          let line: string
          try { line = (await rl.question('> ')).trim() } catch { break }
          if (line === '/exit' || line === '/quit') break
          if (line === '/reset') { history.splice(opts.system != null ? 1 : 0); continue }
          if (line === '') continue
          history.push({ role: 'user', content: line })
          turn = new AbortController()
          try {
            const r = await streamTurn(target, { ...params, messages: history }, t => process.stdout.write(t), turn.signal)
            history.push({ role: 'assistant', content: r.text })
            process.stdout.write('\n')
          } catch (err) {
            history.pop()
            process.stdout.write(turn.signal.aborted ? '\n(cancelled)\n' : `\nplexus: ${(err as Error).message}\n`)
          } finally {
            turn = null
          }
        }
      } finally {
        rl.close()
      }
    })
}
