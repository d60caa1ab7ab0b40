import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'
import type { Config } from './config.js'
import { stdoutDestination } from './log-destination.js'

// A parameter named `token`, in any case, in a query with no %-encoding.
const PLAIN_TOKEN = /(^|&)(token)=[^&]*/gi

function decoded (text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}

/**
 * Hides session tokens in a URL: a token in a log is a credential in a log. Parameter names are
 * compared decoded, as the query parser reads them (`%74oken=` is a token too). A query without
 * `%` can name a token only as itself: one pass of a regular expression (0.4 µs a /get URL
 * against 1.0 µs taking each parameter apart).
 */
export function redactUrl (url: string): string {
  const query = url.indexOf('?')
  if (query < 0) return url
  const search = url.slice(query + 1)
  if (!search.includes('%')) return `${url.slice(0, query + 1)}${search.replace(PLAIN_TOKEN, '$1$2=[redacted]')}`
  const pairs = search.split('&').map((pair) => {
    const eq = pair.indexOf('=')
    const name = eq < 0 ? pair : pair.slice(0, eq)
    return decoded(name).toLowerCase() === 'token' ? `${name}=[redacted]` : pair
  })
  return `${url.slice(0, query + 1)}${pairs.join('&')}`
}

/**
 * pino options for the server: JSON lines, pretty only on a terminal, tokens redacted. The lines
 * of one turn of the event loop are written together, after it (see log-destination.ts); what is
 * left is written when the process exits.
 */
export function loggerOptions (config: Config, isTTY = process.stdout.isTTY === true): FastifyServerOptions['logger'] {
  return {
    level: config.LOG_LEVEL,
    serializers: {
      // Method, URL and address only: no headers, so no Authorization header (the API key) in a
      // line. pino's `redact` would cost a path walk on every line for a field never written.
      req (request) {
        return {
          method: request.method,
          url: redactUrl(request.url),
          remoteAddress: request.ip
        }
      }
    },
    ...(isTTY ? { transport: { target: 'pino-pretty' } } : { stream: stdoutDestination() })
  }
}

type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1]
type Log = (...args: unknown[]) => void

/**
 * A request's logger that becomes pino's child logger the first time it is used. Most requests log
 * nothing (ACCESS_LOG=errors), and pino's child() writes its bindings out as JSON at once: that was
 * 1.5 µs, most of the logging left in a /get.
 */
class LazyChildLogger {
  readonly #parent: FastifyBaseLogger
  readonly #bindings: Bindings
  readonly #options: ChildOptions
  #logger: FastifyBaseLogger | undefined

  constructor (parent: FastifyBaseLogger, bindings: Bindings, options: ChildOptions) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
  }

  #made (): FastifyBaseLogger {
    return (this.#logger ??= this.#parent.child(this.#bindings, this.#options))
  }

  get level (): string { return this.#made().level }
  set level (level: string) { this.#made().level = level }
  fatal (...args: unknown[]): void { (this.#made().fatal as Log)(...args) }
  error (...args: unknown[]): void { (this.#made().error as Log)(...args) }
  warn (...args: unknown[]): void { (this.#made().warn as Log)(...args) }
  info (...args: unknown[]): void { (this.#made().info as Log)(...args) }
  debug (...args: unknown[]): void { (this.#made().debug as Log)(...args) }
  trace (...args: unknown[]): void { (this.#made().trace as Log)(...args) }
  silent (...args: unknown[]): void { (this.#made().silent as Log)(...args) }
  child (bindings: Bindings, options?: ChildOptions): FastifyBaseLogger { return this.#made().child(bindings, options) }
}

/** Fastify's childLoggerFactory: each request's logger (its id bound) made only if it logs. */
export function lazyChildLogger (logger: FastifyBaseLogger, bindings: Bindings, options: ChildOptions): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, options) as unknown as FastifyBaseLogger
}
