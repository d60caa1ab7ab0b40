import { readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyHttpOptions, FastifyInstance } from 'fastify'
import { AccessLog } from './http/access-log.js'
import type { Config } from './config.js'
import { lazyChildLogger } from './http/logger.js'
import auth from './plugins/auth.js'
import body from './plugins/body.js'
import connections from './plugins/connections.js'
import docs from './plugins/docs.js'
import errors, { sendClientError, sendError } from './plugins/errors.js'
import events from './plugins/events.js'
import metrics from './plugins/metrics.js'
import replyHeaders from './plugins/reply-headers.js'
import { requestId as genReqId } from './http/request-id.js'
import tarantool from './plugins/tarantool.js'
import delIpRoute from './routes/del-ip.js'
import rotateRoute from './routes/rotate.js'
import delRoute from './routes/del.js'
import delUserRoute from './routes/del-user.js'
import eventsRoute from './routes/events.js'
import getRoute from './routes/get.js'
import healthRoutes from './routes/health.js'
import ipRoute from './routes/ip.js'
import newRoute from './routes/new.js'
import userRoute from './routes/user.js'

/** The service's version, from package.json (one level above src/ and dist/ alike). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export interface AppOptions {
  config: Config
  /** `user:password@host:port` of the Tarantool to use (the embedded one's, or TARANTOOL_URI). */
  tarantoolUri: string
  /** How long start-up waits for Tarantool before serving 503s until it comes (default 5 s). */
  connectWaitMs?: number
}

/** Server options the app relies on: set wherever the Fastify instance is made (server, tests). */
export function serverOptions (config: Config): FastifyHttpOptions<Server> {
  return {
    // Form encoding can triple the size of the data, so the body may exceed the extra limit.
    bodyLimit: 4 * config.EXTRA_MAX_BYTES,
    // A client that sends its request slower than this gets 408 (Node would wait minutes).
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    // An idle kept-alive connection is closed after this (Fastify's default is 72 s).
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    http: {
      headersTimeout: config.REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: Math.min(1000, config.REQUEST_TIMEOUT_MS)
    },
    // Requests Node cannot parse, and errors raised before routing (a malformed URL), get the
    // API's envelope too.
    clientErrorHandler: sendClientError,
    frameworkErrors: (err, request, reply) => { sendError(err, request, reply) },
    // The caller's x-request-id when it sends one, else a UUID; echoed and logged as reqId.
    genReqId,
    // One log line per request when it is answered: for every request, or for errors and slow ones.
    logController: new AccessLog(config.ACCESS_LOG, config.SLOW_REQUEST_MS),
    // A request's logger is made when the request first logs.
    childLoggerFactory: lazyChildLogger
  }
}

/** The sessions service as a Fastify plugin: everything but listening and process signals. */
async function sessionsApp (app: FastifyInstance, opts: AppOptions): Promise<void> {
  const { config } = opts
  app.decorate('config', config)

  await app.register(connections, { maxConnections: config.MAX_CONNECTIONS, silentMs: config.REQUEST_TIMEOUT_MS })
  await app.register(errors)
  await app.register(replyHeaders)
  await app.register(body)
  await app.register(tarantool, {
    uri: opts.tarantoolUri,
    timeoutMs: config.TARANTOOL_TIMEOUT_MS,
    maxInFlight: config.TARANTOOL_MAX_IN_FLIGHT,
    connectWaitMs: opts.connectWaitMs ?? 5000,
    settings: {
      ttlSeconds: config.SESSION_TTL_SECONDS,
      sweepIntervalSeconds: config.SWEEP_INTERVAL_SECONDS,
      eventsRetentionSeconds: config.EVENTS_RETENTION_SECONDS,
      tokenStorage: config.TOKEN_STORAGE
    },
    policy: {
      extraMaxBytes: config.EXTRA_MAX_BYTES,
      tokenStorage: config.TOKEN_STORAGE,
      maxLifetimeSeconds: config.MAX_LIFETIME_SECONDS,
      maxSessionsPerUser: config.MAX_SESSIONS_PER_USER,
      limitPolicy: config.SESSION_LIMIT_POLICY
    }
  })

  await app.register(events)
  await app.register(metrics)
  await app.register(docs, { version: VERSION, apiKey: config.API_KEY !== undefined })

  // Probes, metrics and docs are public; the session API needs the key when there is one.
  await app.register(healthRoutes)
  await app.register(async function api (scope) {
    if (config.API_KEY !== undefined) await scope.register(auth, { apiKey: config.API_KEY })
    await scope.register(newRoute)
    await scope.register(getRoute)
    await scope.register(delRoute)
    await scope.register(userRoute)
    await scope.register(ipRoute)
    await scope.register(delUserRoute)
    await scope.register(delIpRoute)
    await scope.register(rotateRoute)
    await scope.register(eventsRoute)
  })
}

export default fp(sessionsApp, { name: 'sessions-app', fastify: '5.x' })
