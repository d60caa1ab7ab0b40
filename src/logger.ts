import type { FastifyServerOptions } from 'fastify'
import pino from 'pino'
import type { Config } from './config.js'

const TOKEN_IN_URL = /([?&]token=)[^&#]*/gi

/** Hides session tokens in a URL: a token in a log is a credential in a log. */
export function redactUrl (url: string): string {
  return url.replace(TOKEN_IN_URL, '$1[redacted]')
}

/**
 * pino options for the server: JSON lines, pretty only on a terminal, tokens redacted. Lines are
 * written asynchronously: those logged while a write is under way go out together in the next one,
 * instead of one blocking write each; what is left is flushed when the process exits.
 */
export function loggerOptions (config: Config, isTTY = process.stdout.isTTY === true): FastifyServerOptions['logger'] {
  return {
    level: config.LOG_LEVEL,
    redact: ['req.headers.authorization'],
    serializers: {
      req (request) {
        return {
          method: request.method,
          url: redactUrl(request.url),
          remoteAddress: request.ip
        }
      }
    },
    ...(isTTY ? { transport: { target: 'pino-pretty' } } : { stream: pino.destination({ dest: 1, sync: false }) })
  }
}
