// Behaviour common to every route: unknown routes, failures of the storage, unexpected errors.
import { connect, type AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiError, buildApp, call, newSession } from './support/app.js'
import { freePort, startTarantool, TARANTOOL_BIN } from './support/tarantool.js'
import { missing } from './support/programs.js'

describe('app', () => {
  let app: FastifyInstance
  beforeAll(async () => {
    app = await buildApp({
      // A route of the test's own, to see what an unexpected error looks like from outside.
      extend: (a) => a.get('/boom', async () => { throw new Error('secret internals at /srv/app.ts:42') })
    })
  })
  afterAll(async () => { await app.close() })

  it.each([
    ['GET', '/'],
    ['GET', '/nope'],
    ['PUT', '/new?user_id=1&ip=127.0.0.1'],
    ['DELETE', '/del'],
    ['HEAD', '/new?user_id=1&ip=127.0.0.1']
  ] as const)('answers %s %s with not_found', async (method, url) => {
    const res = await app.inject({ method, url })
    expect(res.statusCode).toBe(404)
    if (method !== 'HEAD') expect(res.json()).toEqual(apiError('not_found'))
  })

  it('ignores bodies where no extra data is read', async () => {
    const session = await newSession(app)
    for (const [url, type, payload, data] of [
      [`/user?id=${session.user_id}`, 'application/json', '{broken', { data: [session], next: null }],
      [`/ip?ip=${session.ip}`, 'text/plain', 'hello', { data: [session], next: null }],
      [`/del?token=${session.token}`, 'application/octet-stream', 'x', { data: session }]
    ] as const) {
      const res = await call(app, { method: 'POST', url, payload, headers: { 'content-type': type } })
      expect(res, url).toEqual({ statusCode: 200, body: { status: 'success', ...data } })
    }
    // The /del did its work.
    expect(await call(app, { url: `/get?token=${session.token}` })).toEqual({ statusCode: 404, body: apiError('token_not_found') })
  })

  it('answers an unexpected error with internal_error and no internals', async () => {
    const res = await call(app, { url: '/boom' })
    expect(res).toEqual({ statusCode: 500, body: { status: 'error', code: 'internal_error', message: 'Internal error' } })
  })

  it('answers a malformed URL with bad_request', async () => {
    const res = await call(app, { url: '/get%zz?token=x' })
    expect(res).toEqual({ statusCode: 400, body: apiError('bad_request') })
  })
})

/** Sends raw bytes over HTTP/1.1 and returns the status line's code and the parsed body. */
async function raw (port: number, text: string): Promise<{ status: number, body: unknown }> {
  const reply = await new Promise<string>((resolve, reject) => {
    let data = ''
    const socket = connect(port, '127.0.0.1', () => socket.write(text))
    socket.on('data', (chunk) => { data += chunk.toString() })
    socket.on('close', () => resolve(data))
    socket.on('error', reject)
  })
  const [head, body] = reply.split('\r\n\r\n')
  return { status: Number(head.split(' ')[1]), body: JSON.parse(body) }
}

describe('requests Node cannot parse', () => {
  let app: FastifyInstance
  let port: number
  beforeAll(async () => {
    app = await buildApp({ env: { REQUEST_TIMEOUT_MS: '500' } })
    await app.listen({ port: 0, host: '127.0.0.1' })
    port = (app.server.address() as AddressInfo).port
  })
  afterAll(async () => { await app.close() })

  it.each([
    ['garbage', 'GARBAGE\r\n\r\n', 400, 'bad_request'],
    ['a bad Content-Length', 'POST /new?user_id=1&ip=127.0.0.1 HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 400, 'bad_request'],
    ['two Content-Lengths', 'POST /new HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400, 'bad_request'],
    ['headers over 16 KiB', `GET /user?id=1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
    ['a URL over 16 KiB', `GET /user?id=1&pad=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, 'headers_too_large']
  ])('answers %s with the error envelope', async (_what, text, status, code) => {
    expect(await raw(port, text)).toEqual({ status, body: apiError(code) })
  })

  it.each([
    ['a body that stops coming', 'POST /new?user_id=1&ip=127.0.0.1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a"'],
    ['headers that stop coming', 'GET /user?id=1 HTTP/1.1\r\nHost: x\r\n']
  ])('answers %s with request_timeout after REQUEST_TIMEOUT_MS', async (_what, text) => {
    const started = Date.now()
    expect(await raw(port, text)).toEqual({ status: 408, body: apiError('request_timeout') })
    expect(Date.now() - started).toBeGreaterThanOrEqual(400)
    expect(Date.now() - started).toBeLessThan(5000)
  })
})

describe('storage failures', () => {
  it('answers 503 storage_unavailable at once while Tarantool is unreachable', async () => {
    const port = await freePort()
    const app = await buildApp({ uri: `sessions:x@127.0.0.1:${port}`, connectWaitMs: 100, env: { TARANTOOL_TIMEOUT_MS: '10000' } })
    try {
      for (const url of ['/new?user_id=1&ip=127.0.0.1', '/get?token=8a3bd9a5-6c8b-4c3e-9d9e-0b7a3f6f1a11', '/user?id=1']) {
        // Far sooner than the 10 s timeout: nothing is sent while disconnected.
        const started = Date.now()
        const res = await call(app, { url })
        expect(res.statusCode).toBe(503)
        expect(res.body).toEqual(apiError('storage_unavailable'))
        expect(Date.now() - started).toBeLessThan(2000)
      }
    } finally {
      await app.close()
    }
  })

  it.skipIf(missing('tarantool', TARANTOOL_BIN))('answers 503 within TARANTOOL_TIMEOUT_MS when Tarantool hangs', async () => {
    const tarantool = await startTarantool()
    const app = await buildApp({ uri: tarantool.uri, env: { TARANTOOL_TIMEOUT_MS: '300' } })
    try {
      const session = await newSession(app)
      tarantool.signal!('SIGSTOP')
      const started = Date.now()
      const res = await call(app, { url: `/get?token=${session.token}` })
      expect(res.statusCode).toBe(503)
      expect(res.body).toEqual(apiError('storage_unavailable'))
      expect(Date.now() - started).toBeLessThan(2000)
    } finally {
      tarantool.signal!('SIGCONT')
      await app.close()
      await tarantool.stop()
    }
  })

  it.skipIf(missing('tarantool', TARANTOOL_BIN))('fails start-up on credentials Tarantool rejects', async () => {
    const tarantool = await startTarantool()
    try {
      await expect(buildApp({ uri: tarantool.uri.replace(`:${tarantool.password}@`, ':wrong@') }))
        .rejects.toThrow(/rejected user 'sessions'/)
    } finally {
      await tarantool.stop()
    }
  })
})
