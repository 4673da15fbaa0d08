/**
 * Structured output: a generation constrained to JSON (any JSON value, as OpenAI's
 * `response_format: {type: "json_object"}` and Ollama's `format: "json"`) or to a JSON schema
 * (`json_schema`, or an Ollama `format` object). The constraint is a llama.cpp grammar that
 * node-llama-cpp builds (GBNF), applied by the sampler, so every token keeps the output a prefix
 * of a valid document. The grammar lets a model go on with whitespace after the value; `JsonValueEnd`
 * sees where the value ends so the generation stops there.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { PlexusError } from '../errors.js'

/** Longest JSON schema accepted (its JSON text). */
export const MAX_SCHEMA_BYTES = 32 * 1024

export type OutputFormat = { type: 'json' } | { type: 'json-schema', schema: Record<string, unknown> }

/** A JSON schema as a request carries it: an object, bounded in size. */
export const JsonSchemaObject = z.record(z.string(), z.unknown())
  .refine(s => JSON.stringify(s).length <= MAX_SCHEMA_BYTES, `a JSON schema of at most ${MAX_SCHEMA_BYTES} bytes`)

const TYPES = ['string', 'number', 'integer', 'boolean', 'null', 'object', 'array']
const PRIMITIVE_TYPES = ['string', 'number', 'integer', 'boolean', 'null']
const STRING_FORMATS = ['date-time', 'time', 'date']
/** Keywords that describe and constrain nothing: accepted and passed on. */
const ANNOTATIONS = ['description', 'title', 'default', 'examples', '$schema', '$id', '$comment']
/** What the grammar builder (node-llama-cpp's GBNF for JSON schemas) honours, by keyword. */
const KEYWORDS = ['type', 'const', 'enum', 'oneOf', 'anyOf', '$ref', '$defs', 'properties', 'required', 'additionalProperties',
  'minProperties', 'maxProperties', 'items', 'prefixItems', 'minItems', 'maxItems', 'minLength', 'maxLength', 'format', ...ANNOTATIONS]
const MAX_SCHEMA_DEPTH = 32

function refuse (path: string, why: string): PlexusError {
  return new PlexusError('PLX_ERR_BAD_REQUEST', [`The JSON schema cannot be used to constrain the output: ${path} ${why}`], { param: 'response_format' })
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return v != null && typeof v === 'object' && !Array.isArray(v)
}

/**
 * Checks a JSON schema against what the grammar builder honours and returns it ready for it
 * (`anyOf` becomes `oneOf`: as a grammar both are a choice of alternatives). Anything it would
 * ignore or misread — a keyword such as `pattern` or `minimum`, an unknown type, a schema that
 * says nothing (`{}`, which it would read as `null`), a `$ref` outside `#/$defs` — is refused,
 * naming where, rather than silently producing output the schema does not describe.
 */
export function checkJsonSchema (schema: Record<string, unknown>): Record<string, unknown> {
  const defs = isPlainObject(schema.$defs) ? Object.keys(schema.$defs) : []
  const walk = (node: unknown, path: string, depth: number): Record<string, unknown> => {
    if (!isPlainObject(node)) throw refuse(path, 'is not an object')
    if (depth > MAX_SCHEMA_DEPTH) throw refuse(path, `is nested deeper than ${MAX_SCHEMA_DEPTH} levels`)
    for (const k of Object.keys(node)) if (!KEYWORDS.includes(k)) throw refuse(path, `uses '${k}', which is not supported (supported: ${KEYWORDS.filter(w => !ANNOTATIONS.includes(w)).join(', ')})`)
    const out: Record<string, unknown> = { ...node }
    const sub = (v: unknown, at: string): Record<string, unknown> => walk(v, at, depth + 1)
    const list = (v: unknown, at: string): Array<Record<string, unknown>> => {
      if (!Array.isArray(v) || v.length === 0) throw refuse(at, 'is not a non-empty array of schemas')
      return v.map((x, i) => sub(x, `${at}[${i}]`))
    }
    const count = (k: string): void => {
      if (node[k] != null && (!Number.isSafeInteger(node[k]) || (node[k] as number) < 0)) throw refuse(`${path}.${k}`, 'is not a non-negative integer')
    }
    if (!['type', 'const', 'enum', 'oneOf', 'anyOf', '$ref'].some(k => k in node)) throw refuse(path, 'needs one of type, const, enum, oneOf, anyOf or $ref')
    const types = node.type == null ? [] : Array.isArray(node.type) ? node.type : [node.type]
    for (const t of types) if (typeof t !== 'string' || !TYPES.includes(t)) throw refuse(`${path}.type`, `has '${String(t)}', not one of ${TYPES.join(', ')}`)
    if (Array.isArray(node.type) && node.type.some(t => !PRIMITIVE_TYPES.includes(t as string))) throw refuse(`${path}.type`, 'lists object or array; use oneOf for those')
    const only = (keys: string[], type: string): void => {
      for (const k of keys) if (k in node && node.type !== type) throw refuse(`${path}.${k}`, `applies to type '${type}' only`)
    }
    only(['properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties'], 'object')
    only(['items', 'prefixItems', 'minItems', 'maxItems'], 'array')
    only(['minLength', 'maxLength', 'format'], 'string')
    for (const k of ['minProperties', 'maxProperties', 'minItems', 'maxItems', 'minLength', 'maxLength']) count(k)
    if ('format' in node && !STRING_FORMATS.includes(node.format as string)) throw refuse(`${path}.format`, `is not one of ${STRING_FORMATS.join(', ')}`)
    const primitive = (v: unknown): boolean => v === null || ['string', 'number', 'boolean'].includes(typeof v)
    if ('const' in node && !primitive(node.const)) throw refuse(`${path}.const`, 'is not a string, number, boolean or null')
    if ('enum' in node && (!Array.isArray(node.enum) || node.enum.length === 0 || !node.enum.every(primitive))) throw refuse(`${path}.enum`, 'is not a non-empty array of strings, numbers, booleans or null')
    if ('oneOf' in node) out.oneOf = list(node.oneOf, `${path}.oneOf`)
    if ('anyOf' in node) {
      if ('oneOf' in node) throw refuse(path, 'has both oneOf and anyOf')
      out.oneOf = list(node.anyOf, `${path}.anyOf`)
      delete out.anyOf
    }
    if ('$ref' in node) {
      const ref = node.$ref
      const name = typeof ref === 'string' && ref.startsWith('#/$defs/') ? ref.slice('#/$defs/'.length) : null
      if (name == null || !defs.includes(name)) throw refuse(`${path}.$ref`, `is not '#/$defs/NAME' for a NAME in the schema's $defs`)
    }
    if ('$defs' in node) {
      if (path !== 'schema' || !isPlainObject(node.$defs)) throw refuse(`${path}.$defs`, 'is allowed at the top of the schema only, as an object')
      out.$defs = Object.fromEntries(Object.entries(node.$defs).map(([k, v]) => [k, sub(v, `${path}.$defs.${k}`)]))
    }
    if ('properties' in node) {
      if (!isPlainObject(node.properties)) throw refuse(`${path}.properties`, 'is not an object')
      out.properties = Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, sub(v, `${path}.properties.${k}`)]))
    }
    if ('required' in node) {
      const props = isPlainObject(node.properties) ? Object.keys(node.properties) : []
      if (!Array.isArray(node.required) || !node.required.every(r => typeof r === 'string' && props.includes(r))) throw refuse(`${path}.required`, 'is not an array of property names')
    }
    if (isPlainObject(node.additionalProperties)) out.additionalProperties = sub(node.additionalProperties, `${path}.additionalProperties`)
    else if ('additionalProperties' in node && typeof node.additionalProperties !== 'boolean') throw refuse(`${path}.additionalProperties`, 'is not a boolean or a schema')
    // JSON Schema's {"type": "object"} is any object; the grammar builder would allow only {}.
    if (node.type === 'object' && node.properties == null && node.additionalProperties == null) out.additionalProperties = true
    if ('items' in node) out.items = sub(node.items, `${path}.items`)
    if ('prefixItems' in node) out.prefixItems = list(node.prefixItems, `${path}.prefixItems`)
    return out
  }
  return walk(schema, 'schema', 0)
}

/** The cache key of a format's grammar. */
export function formatKey (format: OutputFormat): string {
  return format.type === 'json' ? 'json' : `schema:${JSON.stringify(format.schema)}`
}

/**
 * Follows generated text and says when one top-level JSON value is complete: an object or array
 * when its brackets close, a string at its closing quote, a number or literal at the whitespace
 * after it. Text inside strings (escapes included) never counts as structure.
 */
export class JsonValueEnd {
  #depth = 0
  #inString = false
  #escaped = false
  #scalar = false
  #done = false

  get done (): boolean { return this.#done }

  /** Takes the next piece of text; true once the value is complete. */
  push (text: string): boolean {
    for (let i = 0; i < text.length && !this.#done; i++) this.#char(text.charCodeAt(i))
    return this.#done
  }

  #char (c: number): void {
    if (this.#inString) {
      if (this.#escaped) this.#escaped = false
      else if (c === 0x5c) this.#escaped = true // backslash
      else if (c === 0x22) { // closing quote
        this.#inString = false
        if (this.#depth === 0) this.#done = true
      }
      return
    }
    switch (c) {
      case 0x20: case 0x09: case 0x0a: case 0x0d:
        if (this.#scalar && this.#depth === 0) this.#done = true
        return
      case 0x22: this.#inString = true; return
      case 0x7b: case 0x5b: this.#depth++; return // { [
      case 0x7d: case 0x5d: // } ]
        this.#depth--
        if (this.#depth <= 0) this.#done = true
        return
      default:
        if (this.#depth === 0) this.#scalar = true
    }
  }
}
