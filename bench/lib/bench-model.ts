import { mkdir, rename, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { readGgufFileInfo } from 'node-llama-cpp'
import { GgmlTensorType, toFloat16Bits, writeGguf } from './gguf-writer.js'
import type { GgmlTensorTypeId, GgufTensor, GgufValue } from './gguf-writer.js'
import { seededRandom } from '../../src/random.js'

/** Shape of a synthetic Llama-architecture model. */
export interface LlamaShape {
  nEmbd: number
  nLayer: number
  nHead: number
  nHeadKv: number
  nFf: number
  contextLength: number
}

/**
 * The ~85M-parameter benchmark shape: GPT-2-small-like widths, so decode is dominated by f16
 * matrix-vector products (~171 MB of weights read per token) rather than by per-op overhead.
 */
export const BENCH_85M: LlamaShape = {
  nEmbd: 768,
  nLayer: 12,
  nHead: 12,
  nHeadKv: 12,
  nFf: 2048,
  contextLength: 2048
}

/** Tokenizer metadata copied from a donor GGUF (a llama/SPM vocabulary). */
interface Vocabulary {
  tokens: string[]
  scores: number[]
  tokenTypes: number[]
  bosId: number
  eosId: number
  unkId: number
}

async function readVocabulary (donorPath: string): Promise<Vocabulary> {
  const info = await readGgufFileInfo(donorPath, { readTensorInfo: false, logWarnings: false })
  const ggml = (info.metadata as unknown as { tokenizer?: { ggml?: Record<string, unknown> } }).tokenizer?.ggml
  if (ggml == null || ggml.model !== 'llama' || !Array.isArray(ggml.tokens)) {
    throw new Error(`${donorPath}: no llama tokenizer metadata to reuse`)
  }
  return {
    tokens: ggml.tokens as string[],
    scores: ggml.scores as number[],
    tokenTypes: ggml.token_type as number[],
    bosId: Number(ggml.bos_token_id ?? 1),
    eosId: Number(ggml.eos_token_id ?? 2),
    unkId: Number(ggml.unknown_token_id ?? 0)
  }
}

/** Tensor list of a Llama model in llama.cpp naming, dims in ggml order (ne[0] = input width). */
function llamaTensors (s: LlamaShape, nVocab: number): Array<{ name: string, dims: number[], norm: boolean }> {
  const headDim = s.nEmbd / s.nHead
  const kvWidth = headDim * s.nHeadKv
  const list: Array<{ name: string, dims: number[], norm: boolean }> = [
    { name: 'token_embd.weight', dims: [s.nEmbd, nVocab], norm: false },
    { name: 'output_norm.weight', dims: [s.nEmbd], norm: true },
    { name: 'output.weight', dims: [s.nEmbd, nVocab], norm: false }
  ]
  for (let i = 0; i < s.nLayer; i++) {
    list.push(
      { name: `blk.${i}.attn_norm.weight`, dims: [s.nEmbd], norm: true },
      { name: `blk.${i}.attn_q.weight`, dims: [s.nEmbd, s.nEmbd], norm: false },
      { name: `blk.${i}.attn_k.weight`, dims: [s.nEmbd, kvWidth], norm: false },
      { name: `blk.${i}.attn_v.weight`, dims: [s.nEmbd, kvWidth], norm: false },
      { name: `blk.${i}.attn_output.weight`, dims: [s.nEmbd, s.nEmbd], norm: false },
      { name: `blk.${i}.ffn_norm.weight`, dims: [s.nEmbd], norm: true },
      { name: `blk.${i}.ffn_gate.weight`, dims: [s.nEmbd, s.nFf], norm: false },
      { name: `blk.${i}.ffn_up.weight`, dims: [s.nEmbd, s.nFf], norm: false },
      { name: `blk.${i}.ffn_down.weight`, dims: [s.nFf, s.nEmbd], norm: false }
    )
  }
  return list
}

/**
 * Parameter count of a Llama shape with the given vocabulary size.
 *
 * @param shape - the model dimensions
 * @param nVocab - vocabulary size
 * @returns the number of weights over all tensors
 */
export function llamaParameterCount (shape: LlamaShape, nVocab: number): number {
  return llamaTensors(shape, nVocab).reduce((a, t) => a + t.dims.reduce((x, d) => x * d, 1), 0)
}

/**
 * Writes a Llama GGUF with random f16 weights (f32 norms) and the vocabulary of `donorPath`.
 * Weights are uniform with variance 1/fan_in so activations stay finite; the text it produces is
 * noise, which does not matter for throughput.
 *
 * @param path - destination file
 * @param shape - model dimensions
 * @param donorPath - GGUF whose llama tokenizer metadata is copied
 * @returns the parameter count
 */
export async function writeRandomLlama (path: string, shape: LlamaShape, donorPath: string): Promise<number> {
  if (shape.nEmbd % shape.nHead !== 0 || shape.nHead % shape.nHeadKv !== 0) {
    throw new Error('nEmbd must be a multiple of nHead, and nHead of nHeadKv')
  }
  const vocab = await readVocabulary(donorPath)
  const nVocab = vocab.tokens.length
  const metadata: Array<[string, GgufValue]> = [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: 'plexus-bench-random' }],
    ['general.file_type', { type: 'u32', value: 1 }], // LLAMA_FTYPE_MOSTLY_F16
    ['general.alignment', { type: 'u32', value: 32 }],
    ['llama.context_length', { type: 'u32', value: shape.contextLength }],
    ['llama.embedding_length', { type: 'u32', value: shape.nEmbd }],
    ['llama.feed_forward_length', { type: 'u32', value: shape.nFf }],
    ['llama.block_count', { type: 'u32', value: shape.nLayer }],
    ['llama.attention.head_count', { type: 'u32', value: shape.nHead }],
    ['llama.attention.head_count_kv', { type: 'u32', value: shape.nHeadKv }],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: 1e-5 }],
    ['llama.rope.dimension_count', { type: 'u32', value: shape.nEmbd / shape.nHead }],
    ['llama.rope.freq_base', { type: 'f32', value: 10000 }],
    ['llama.vocab_size', { type: 'u32', value: nVocab }],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: 'f32[]', value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: vocab.tokenTypes }],
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: vocab.bosId }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: vocab.eosId }],
    ['tokenizer.ggml.unknown_token_id', { type: 'u32', value: vocab.unkId }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }]
  ]
  const random = seededRandom(0x5eed)
  const tensors: GgufTensor[] = llamaTensors(shape, nVocab).map(({ name, dims, norm }) => {
    const type: GgmlTensorTypeId = norm ? GgmlTensorType.F32 : GgmlTensorType.F16
    if (norm) {
      return { name, dims, type, fill: (out) => new Float32Array(out.buffer, out.byteOffset, out.length / 4).fill(1) }
    }
    // Uniform on [-a, a] has variance a²/3; a = sqrt(3 / fanIn) gives variance 1/fanIn.
    const a = name === 'token_embd.weight' ? 1 : Math.sqrt(3 / dims[0]!)
    return {
      name,
      dims,
      type,
      fill: (out) => {
        const halves = new Uint16Array(out.buffer, out.byteOffset, out.length / 2)
        for (let i = 0; i < halves.length; i++) halves[i] = toFloat16Bits((random() * 2 - 1) * a)
      }
    }
  })
  await writeGguf(path, metadata, tensors)
  return llamaParameterCount(shape, nVocab)
}

/**
 * Returns the path of the synthetic benchmark model, generating it on first use (a few seconds).
 * The file lives under `.cache/bench-models/` and is never committed.
 *
 * @param root - repository root
 * @param shape - model dimensions (defaults to {@link BENCH_85M})
 * @param donorPath - GGUF whose vocabulary is reused (defaults to the embedded stories260K)
 */
export async function ensureBenchModel (root: string, shape: LlamaShape = BENCH_85M, donorPath?: string): Promise<string> {
  const donor = donorPath ?? join(root, 'models', 'stories260K.gguf')
  const name = `llama-e${shape.nEmbd}-l${shape.nLayer}-h${shape.nHead}-kv${shape.nHeadKv}-ff${shape.nFf}-f16.gguf`
  const path = join(root, '.cache', 'bench-models', name)
  try {
    await stat(path)
    return path
  } catch {}
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  await writeRandomLlama(tmp, shape, donor)
  await rename(tmp, path)
  return path
}
