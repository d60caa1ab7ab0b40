import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

export interface ConnectionsOptions {
  /** The most connections open at once (MAX_CONNECTIONS). */
  maxConnections: number
  /** How long a new connection may stay without sending a byte (REQUEST_TIMEOUT_MS). */
  silentMs: number
}

// One warning at most this often while connections are refused: not one a connection.
const DROP_WARNING_MS = 10_000

/**
 * Bounds the HTTP connections: at most `maxConnections` open (Node closes those past it as they
 * come), and one that sends nothing within `silentMs` closed. Node's own timeouts start at a
 * request's first byte (headersTimeout, requestTimeout) or after an answer (keepAliveTimeout): a
 * connection that never sends a byte would stay open for good. Fastify's connectionTimeout would
 * close it, but it is the socket's inactivity timeout: it also cuts a request whose answer takes
 * that long (a long sign-out), where the client then never learns the outcome.
 */
async function connections (app: FastifyInstance, opts: ConnectionsOptions): Promise<void> {
  const server = app.server
  server.maxConnections = opts.maxConnections
  // A timer a connection, not a request: a kept-alive connection makes it once.
  server.on('connection', (socket) => {
    const timer = setTimeout(() => { if (socket.bytesRead === 0) socket.destroy() }, opts.silentMs)
    socket.once('close', () => clearTimeout(timer))
  })
  let dropped = 0
  let warnedAt = -Infinity
  server.on('drop', () => {
    dropped += 1
    if (Date.now() - warnedAt < DROP_WARNING_MS) return
    app.log.warn({ dropped, maxConnections: opts.maxConnections },
      'MAX_CONNECTIONS connections are open: closing new ones as they come')
    warnedAt = Date.now()
    dropped = 0
  })
}

export default fp(connections, { name: 'connections', fastify: '5.x' })
