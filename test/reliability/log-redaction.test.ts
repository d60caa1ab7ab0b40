// Tokens are credentials: no log line has one in full, whether it came in the query, in a body, in
// the path or under a misspelt name, at every ACCESS_LOG setting and log level, with the server's
// own logger settings; and the whole output of `npm start` (its Tarantool's lines included) holds
// none, in any spelling (with or without dashes, in any case).
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import sessionsApp, { serverOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { loggerOptions } from '../../src/http/logger.js'
import { newSession, uniqueIp, uniqueUserId } from '../support/app.js'
import { http } from '../support/http.js'
import { missing } from '../support/programs.js'
import { runServer, stopAll, untilServing } from '../support/server.js'
import { TARANTOOL_BIN } from '../support/tarantool.js'

interface Request {
  method?: 'GET' | 'POST'
  url: string
  payload?: string
  headers?: Record<string, string>
}

interface Reply { status: number, body: any }

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const JSON_BODY = { 'content-type': 'application/json' }

/**
 * Drives every endpoint with tokens in every place a caller may put one; returns the tokens it
 * handled (those it was given and those the service made).
 */
async function driveEveryEndpoint (send: (request: Request) => Promise<Reply>): Promise<string[]> {
  const userId = uniqueUserId()
  const ip = uniqueIp()
  const created = async (): Promise<{ token: string, id: string }> => {
    const reply = await send({ url: `/new?user_id=${userId}&ip=${ip}` })
    expect(reply.status).toBe(200)
    return reply.body.data
  }
  const a = await created()
  const b = await created()
  const c = await created()
  const rotated = await send({ url: `/rotate?token=${a.token}&grace=5` })
  expect(rotated.status).toBe(200)
  const d = rotated.body.data.token as string
  // A page and its cursor, in plain mode with the tokens of the sessions listed.
  const page = await send({ url: `/user?id=${userId}&limit=1` })
  expect(page.body.next).toEqual(expect.any(String))
  await send({ url: `/user?id=${userId}&limit=1&after=${page.body.next as string}` })
  const upper = b.token.toUpperCase()
  const bare = b.token.replace(/-/g, '')
  const requests: Request[] = [
    { url: `/get?token=${b.token}&ip=${ip}` },
    { url: `/get?TOKEN=${upper}` },
    { url: `/get?token=${b.token}&token=${b.token}` },
    { url: `/get?%74oken=${b.token}` },
    { url: `/get?tok%65n=${encodeURIComponent(b.token).replace(/-/g, '%2D')}` },
    { url: `/get?token=${bare}` },
    { url: `/get?tokn=${b.token}` },
    { url: `/get/${b.token}` },
    { url: `/nowhere?token=${b.token}` },
    { url: `/get?token=${b.token}`, method: 'POST', payload: JSON.stringify({ token: b.token, note: bare }), headers: JSON_BODY },
    { url: `/get?token=${b.token}`, method: 'POST', payload: `token=${b.token}`, headers: FORM },
    { url: `/get?token=${b.token}`, method: 'POST', payload: '{"broken', headers: JSON_BODY },
    { url: '/del', method: 'POST', payload: `token=${b.token}`, headers: FORM },
    { url: `/get?token=${a.token}` },
    { url: `/user?id=${userId}&limit=1` },
    { url: `/ip?ip=${ip}&limit=1` },
    { url: `/del?id=${c.id}` },
    { url: `/del_user?id=${userId}&except=${b.token}&except_id=${b.id}` },
    { url: `/del_user?id=${userId}&Except=${bare}` },
    { url: `/del_user?id=${userId}&except=${upper}&limit=1` },
    { url: '/health' },
    { url: '/ready' },
    { url: '/metrics' },
    { url: '/openapi.json' }
  ]
  for (const request of requests) await send(request)
  await send({ url: `/del_user?id=${userId}&except=${d}` })
  await send({ url: `/del?token=${d}` })
  await send({ url: `/del_ip?ip=${ip}` })
  await send({ url: `/del?token=${d}` })
  return [a.token, b.token, c.token, d]
}

/** The tokens among `tokens` that `output` holds, in any case, with or without dashes. */
function tokensIn (output: string, tokens: string[]): string[] {
  const flat = output.toLowerCase().replace(/-/g, '')
  return tokens.filter((token) => flat.includes(token.toLowerCase().replace(/-/g, '')))
}

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

  // Every access setting (errors with a slow threshold of 0 logs every request as well) at every
  // level that writes anything.
  const SETTINGS = (['all', 'errors', 'off'] as const).flatMap((accessLog) =>
    (['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const).map((level) => ({ accessLog, level })))
  it.each(SETTINGS)('drives every endpoint without a token in the log: ACCESS_LOG=$accessLog, LOG_LEVEL=$level', async ({ accessLog, level }) => {
    const output: string[] = []
    const config = loadConfig({ LOG_LEVEL: level, ACCESS_LOG: accessLog, SLOW_REQUEST_MS: '0' })
    const stream = new Writable({ write (chunk, _encoding, done) { output.push(String(chunk)); done() } })
    const each = Fastify({ logger: { ...(loggerOptions(config, false) as object), stream }, ...serverOptions(config) })
    try {
      await each.register(sessionsApp, { config, tarantoolUri: inject('tarantoolUri') })
      await each.ready()
      const tokens = await driveEveryEndpoint(async (request) => {
        const res = await each.inject(request)
        return { status: res.statusCode, body: String(res.headers['content-type']).includes('json') ? res.json() : res.body }
      })
      // The access lines are there, tokens hidden in them.
      if (accessLog !== 'off' && level === 'trace') expect(output.join('')).toContain('token=[redacted]')
      expect(tokensIn(output.join(''), tokens)).toEqual([])
    } finally {
      await each.close()
    }
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('the whole output of npm start', () => {
  const dirs: string[] = []
  afterEach(() => {
    stopAll()
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })

  it('holds no token after every endpoint, malformed requests and a stop, at ACCESS_LOG=all and LOG_LEVEL=trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sessions-redaction-'))
    dirs.push(dir)
    const server = await runServer(dir, { ACCESS_LOG: 'all', LOG_LEVEL: 'trace' })
    await untilServing(server)
    const tokens = await driveEveryEndpoint(async ({ method, url, payload, headers }) => {
      const reply = await http(server.port, url, { method, body: payload, headers, timeoutMs: 10_000 })
      return { status: reply.status, body: reply.body }
    })
    // Requests Node cannot parse, with a token in their request line.
    for (const raw of [
      `GET /get?token=${tokens[1]} HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n`,
      `GET /get?token=${tokens[1]} HTTP/9.9\r\n\r\n`,
      `GET /del_user?id=1&except=${tokens[1]} HTTP/1.1\r\nContent-Length: x\r\n\r\n`
    ]) {
      await new Promise<void>((resolve) => {
        const socket = connect(server.port, '127.0.0.1', () => socket.end(raw))
        socket.on('data', () => {})
        socket.on('close', () => resolve())
      })
    }
    server.process.kill('SIGTERM')
    expect(await server.exited).toBe(0)
    const output = server.output()
    expect(output).toContain('token=[redacted]')
    expect(output).toContain('except=[redacted]')
    expect(tokensIn(output, tokens)).toEqual([])
  })
})
