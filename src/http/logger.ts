import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'
import pino from 'pino'
import type { Config } from '../config.js'
import { stdoutDestination } from './log-destination.js'

// The parameters that carry a token (/get, /del, /rotate: token; /del_user: except), in any
// case, in a query with no %-encoding.
const PLAIN_TOKEN = /(^|&)(token|except)=[^&]*/gi
const TOKEN_PARAMS = new Set(['token', 'except'])
// Anything shaped like a token (a UUID, with or without its dashes, in any case), wherever it is:
// a token sent under a misspelt name, in the path, or quoted in an error message.
const TOKEN_SHAPED = /[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}/gi
const REDACTED = '[redacted]'

function decoded (text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}

/** Hides whatever is shaped like a token in a text (a log message, an error's message and stack). */
export function redactTokens (text: string): string {
  return text.replace(TOKEN_SHAPED, REDACTED)
}

// A path or a query parameter with its tokens hidden. One with %-encoding is looked at decoded,
// and logged decoded if it holds a token, so that an encoded token is hidden too.
function redactPart (part: string): string {
  if (!part.includes('%')) return redactTokens(part)
  const plain = decoded(part)
  TOKEN_SHAPED.lastIndex = 0
  return TOKEN_SHAPED.test(plain) ? redactTokens(plain) : part
}

/**
 * Hides session tokens in a URL: a token in a log is a credential in a log. The parameters that
 * carry one are hidden whatever their value, their names compared decoded, as the query parser
 * reads them (`%74oken=` is a token too); anything shaped like a token is hidden wherever it is.
 * A query without `%` can name a token only as itself: regular expressions over the whole query,
 * not each parameter taken apart (0.4 µs a /get URL).
 */
export function redactUrl (url: string): string {
  const query = url.indexOf('?')
  if (query < 0) return redactPart(url)
  const path = redactPart(url.slice(0, query))
  const search = url.slice(query + 1)
  if (!search.includes('%')) return `${path}?${redactTokens(search.replace(PLAIN_TOKEN, `$1$2=${REDACTED}`))}`
  const pairs = search.split('&').map((pair) => {
    const eq = pair.indexOf('=')
    const name = eq < 0 ? pair : pair.slice(0, eq)
    return TOKEN_PARAMS.has(decoded(name).toLowerCase()) ? `${name}=${REDACTED}` : redactPart(pair)
  })
  return `${path}?${pairs.join('&')}`
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
      },
      // An error's message may quote a URL (Fastify's "reply already sent") or a stored tuple.
      err (err: Error) {
        const out = pino.stdSerializers.err(err)
        out.message = redactTokens(out.message)
        if (typeof out.stack === 'string') out.stack = redactTokens(out.stack)
        return out
      }
    },
    hooks: {
      // Messages too: Fastify's own may hold a URL as it came ("Route GET:/... not found").
      logMethod (args, method) {
        for (let i = 0; i < args.length; i++) {
          if (typeof args[i] === 'string') args[i] = redactTokens(args[i] as string)
        }
        method.apply(this, args)
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
  return new LazyChildLogger(logger, bindings, options)
}
