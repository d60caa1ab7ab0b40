// Tokens are credentials: no log line has one in full, whether it came in the query or in a body,
// even at the most verbose log level, with the server's own logger settings.
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import sessionsApp, { serverOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { loggerOptions } from '../../src/logger.js'
import { newSession } from '../support/app.js'

describe('log redaction', () => {
  const lines: string[] = []
  let app: FastifyInstance
  beforeAll(async () => {
    const config = loadConfig({ LOG_LEVEL: 'trace', ACCESS_LOG: 'all' })
    const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
    app = Fastify({ logger: { ...(loggerOptions(config, false) as object), stream }, ...serverOptions(config) })
    await app.register(sessionsApp, { config, tarantoolUri: inject('tarantoolUri') })
    await app.ready()
  })
  afterAll(async () => { await app.close() })

  it('never logs a token in full, from the query or from a body', async () => {
    const { token } = await newSession(app)
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    lines.length = 0
    for (const request of [
      { url: `/get?token=${token}` },
      { url: `/get?ip=127.0.0.1&TOKEN=${token}` },
      { url: `/get?token=${token}&token=${token}` },
      // Names the query parser decodes: tokens as well.
      { url: `/get?%74oken=${token}` },
      { url: `/get?tok%65n=${token}` },
      { url: `/get?ip=127.0.0.1&To%4Ben=${token}` },
      { url: `/get?token=${token}`, method: 'POST' as const, payload: { token, note: token } },
      { url: `/get?token=${token}`, method: 'POST' as const, payload: `token=${token}`, headers: form },
      { url: '/del', method: 'POST' as const, payload: `token=${token}`, headers: form },
      { url: `/del?token=${token}` },
      { url: `/get?token=${token}` }
    ]) {
      await app.inject(request)
    }
    expect(lines.join('').match(/\[redacted\]/g)?.length).toBeGreaterThanOrEqual(7)
    expect(lines.filter((line) => line.includes(token))).toEqual([])
  })

  it('never logs an Authorization header, on success or error', async () => {
    const secret = 'header-secret-5c1f0e'
    lines.length = 0
    for (const url of ['/health', '/get?token=nope', '/nowhere', '/new?user_id=1&ip=127.0.0.1']) {
      await app.inject({ url, headers: { authorization: `Bearer ${secret}`, cookie: secret } })
    }
    expect(lines.length).toBeGreaterThanOrEqual(4)
    expect(lines.filter((line) => line.includes(secret))).toEqual([])
  })
})
