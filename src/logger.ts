import { pino, destination, type Logger as PinoLogger } from 'pino'

/** The logger every service receives; namespaced per component (`plexus:inference`). */
export type Logger = PinoLogger

export interface LoggerOptions {
  level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
}

/** Root logger writing JSON lines to stderr (stdout is kept for command output). */
export function createLogger (options: LoggerOptions = {}): Logger {
  return pino({ name: 'plexus', level: options.level ?? process.env.PLEXUS_LOG_LEVEL ?? 'info' }, destination(2))
}

/** A logger that drops everything, for tests and embedded use. */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}

export function forComponent (logger: Logger, component: string): Logger {
  return logger.child({ component: `plexus:${component}` })
}
