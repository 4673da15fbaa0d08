/** Largest number of stop sequences a request may give (OpenAI allows 4; Ollama more). */
export const MAX_STOP_SEQUENCES = 16
/** Longest single stop sequence, in characters. */
export const MAX_STOP_LENGTH = 256
/** Generated tokens considered by the presence/frequency penalties (llama.cpp's default window). */
export const PENALTY_WINDOW_TOKENS = 64
/** Inputs per embeddings request. */
export const MAX_EMBEDDING_INPUTS = 2048
