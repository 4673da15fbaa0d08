import { statSync } from 'node:fs'
import { readGgufFileInfo, GgufFileType, GgmlType, GgufInsights } from 'node-llama-cpp'
import { PlexusError } from '../errors.js'

/** What Plexus records about a model, read from its GGUF header (the weights are not read). */
export interface ModelMetadata {
  architecture: string
  /** Total parameter count, summed over tensor shapes. */
  parameters: number
  /** Context length the model was trained with. */
  contextLength: number | null
  embeddingLength: number | null
  /** Quantisation: the declared file type, else the most common tensor type (e.g. `F32`, `Q4_K`). */
  quantization: string
  /** Jinja chat template from `tokenizer.chat_template`, when the file has one. */
  chatTemplate: string | null
  ggufVersion: number
}

function architectureValue (meta: Record<string, unknown>, arch: string, key: string): number | null {
  const section = meta[arch] as Record<string, unknown> | undefined
  const v = section?.[key]
  return typeof v === 'number' ? v : null
}

/** Reads GGUF metadata; a file that is not GGUF gets `PLX_ERR_MODEL_INVALID_FILE`. */
export async function readModelMetadata (path: string): Promise<ModelMetadata> {
  let info
  try {
    info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false })
  } catch (err) {
    throw new PlexusError('PLX_ERR_MODEL_INVALID_FILE', [`${path}: ${(err as Error).message}`], { cause: err })
  }
  // node-llama-cpp reads past the end of a short file as zeros, so a cut-off download would look
  // like a model: check the header is complete and the file holds every tensor it declares.
  const declared = info.fullTensorInfo ?? info.tensorInfo ?? []
  const first = declared[0]
  if (first == null) throw new PlexusError('PLX_ERR_MODEL_INVALID_FILE', [`${path}: the file declares no tensors (cut off or not a model)`])
  const dataStart = Number(first.fileOffset) - Number(first.offset)
  const general0 = (info.metadata as unknown as { general?: { architecture?: unknown } }).general
  if (typeof general0?.architecture !== 'string') {
    throw new PlexusError('PLX_ERR_MODEL_INVALID_FILE', [`${path}: the header has no general.architecture (cut off or not a model)`])
  }
  let needed: number
  try {
    needed = dataStart + (await GgufInsights.from(info)).modelSize
  } catch (err) {
    throw new PlexusError('PLX_ERR_MODEL_INVALID_FILE', [`${path}: ${(err as Error).message}`], { cause: err })
  }
  const size = statSync(path).size
  if (size < needed) {
    throw new PlexusError('PLX_ERR_MODEL_INVALID_FILE', [`${path}: the file is ${size} bytes but its header declares ${needed} (cut off, e.g. an unfinished download)`])
  }
  const meta = info.metadata as unknown as Record<string, unknown>
  const general = (meta.general ?? {}) as { architecture?: string, file_type?: number }
  const architecture = general.architecture ?? 'unknown'
  const tensors = info.fullTensorInfo ?? info.tensorInfo ?? []
  let parameters = 0
  const typeCounts = new Map<number, number>()
  for (const t of tensors) {
    const n = t.dimensions.reduce<number>((a, d) => a * Number(d), 1)
    parameters += n
    typeCounts.set(t.ggmlType, (typeCounts.get(t.ggmlType) ?? 0) + n)
  }
  let quantization: string
  if (general.file_type != null && GgufFileType[general.file_type] != null) {
    quantization = GgufFileType[general.file_type]!.replace(/^MOSTLY_/, '')
  } else {
    const top = [...typeCounts.entries()].sort((a, b) => b[1] - a[1])[0]
    quantization = top != null ? (GgmlType[top[0]] ?? `type${top[0]}`) : 'unknown'
  }
  const tokenizer = (meta.tokenizer ?? {}) as { chat_template?: unknown }
  return {
    architecture,
    parameters,
    contextLength: architectureValue(meta, architecture, 'context_length'),
    embeddingLength: architectureValue(meta, architecture, 'embedding_length'),
    quantization,
    chatTemplate: typeof tokenizer.chat_template === 'string' ? tokenizer.chat_template : null,
    ggufVersion: info.version
  }
}
