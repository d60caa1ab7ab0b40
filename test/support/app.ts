import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify'
import { expect, inject } from 'vitest'
import sessionsApp, { serverOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { loggerOptions } from '../../src/http/logger.js'
import type { SessionWithToken as Session } from '../../src/store/types.js'
import { GENEROUS_TIMEOUT_MS } from './tarantool.js'

export interface TestAppOptions {
  /** Environment overrides, as the service would read them. */
  env?: Record<string, string>
  /** The Tarantool to use; the shared one by default. */
  uri?: string
  connectWaitMs?: number
  /** Adds test-only routes before the app is ready. */
  extend?: (app: FastifyInstance) => void
  /** Where log lines go (JSON, one per line), at LOG_LEVEL. */
  logStream?: { write: (line: string) => void }
}

/** Builds the app exactly as the server does, against a real Tarantool. */
export async function buildApp (opts: TestAppOptions = {}): Promise<FastifyInstance> {
  // A generous Tarantool timeout unless the test sets its own (those that test the timeout do).
  const config = loadConfig({ LOG_LEVEL: 'silent', TARANTOOL_TIMEOUT_MS: String(GENEROUS_TIMEOUT_MS), ...opts.env })
  const logger = { ...(loggerOptions(config, false) as object), ...(opts.logStream ? { stream: opts.logStream } : {}) }
  const app = Fastify({ logger, ...serverOptions(config) })
  await app.register(sessionsApp, {
    config,
    tarantoolUri: opts.uri ?? inject('tarantoolUri'),
    connectWaitMs: opts.connectWaitMs
  })
  opts.extend?.(app)
  await app.ready()
  return app
}

export interface ApiReply<T = unknown> {
  statusCode: number
  body: { status: 'success', data: T } | { status: 'error', code: string, message: string }
}

/** Calls the app and parses the envelope. */
export async function call<T = unknown> (app: FastifyInstance, opts: InjectOptions): Promise<ApiReply<T>> {
  const res = await app.inject(opts)
  return { statusCode: res.statusCode, body: res.json() }
}

/** Calls the app and returns the success data, failing the test on anything else. */
export async function ok<T = Session> (app: FastifyInstance, opts: InjectOptions): Promise<T> {
  const res = await call<T>(app, opts)
  if (res.statusCode !== 200 || res.body.status !== 'success') {
    throw new Error(`expected success, got ${res.statusCode} ${JSON.stringify(res.body)}`)
  }
  return res.body.data
}

/** The error envelope the API answers with. */
export function apiError (code: string): { status: 'error', code: string, message: string } {
  return { status: 'error', code, message: expect.any(String) }
}

/** A user id no other test uses, above 2^32 to exercise big ids. */
export function uniqueUserId (): number {
  return 2 ** 32 + Math.floor(Math.random() * (Number.MAX_SAFE_INTEGER - 2 ** 32))
}

/** An IPv4 address no other test uses. */
export function uniqueIp (): string {
  const byte = (): number => Math.floor(Math.random() * 254) + 1
  return `10.${byte()}.${byte()}.${byte()}`
}

/** A session id: 16 bytes in base64url. */
export const SESSION_ID = /^[A-Za-z0-9_-]{22}$/

export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** Creates a session through the API. */
export async function newSession (app: FastifyInstance, userId = uniqueUserId(), ip = uniqueIp(), extra?: object): Promise<Session> {
  return await ok(app, {
    method: 'GET',
    url: '/new',
    query: { user_id: String(userId), ip },
    ...(extra ? { payload: extra } : {})
  })
}
