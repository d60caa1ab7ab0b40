// Every request has an id: the caller's x-request-id when sane, else a fresh UUID; echoed in the
// answer and carried by the request's log line.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp, UUID_V4 } from '../support/app.js'

describe('request ids', () => {
  const lines: Array<Record<string, unknown>> = []
  let app: FastifyInstance
  beforeAll(async () => {
    app = await buildApp({ env: { LOG_LEVEL: 'info', ACCESS_LOG: 'all' }, logStream: { write: (line) => lines.push(JSON.parse(line)) } })
  })
  afterAll(async () => { await app.close() })

  it('honours a caller\'s x-request-id, in the answer and in the request\'s log line', async () => {
    const res = await app.inject({ url: '/user?id=1', headers: { 'x-request-id': 'checkout-7f3a.42' } })
    expect(res.statusCode).toBe(200)
    expect(res.headers['x-request-id']).toBe('checkout-7f3a.42')
    const mine = lines.filter((line) => line.reqId === 'checkout-7f3a.42')
    expect(mine).toEqual([expect.objectContaining({
      msg: 'request completed',
      req: { method: 'GET', url: '/user?id=1', remoteAddress: '127.0.0.1' },
      res: { statusCode: 200 },
      responseTime: expect.any(Number)
    })])
  })

  it('makes one up when there is none, errors included', async () => {
    for (const url of ['/user?id=1', '/user?id=x', '/nowhere']) {
      const res = await app.inject({ url })
      expect(res.headers['x-request-id']).toMatch(UUID_V4)
    }
    const a = await app.inject({ url: '/health' })
    const b = await app.inject({ url: '/health' })
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id'])
  })

  it.each([
    ['too long', 'x'.repeat(129)],
    ['with spaces', 'a b'],
    ['with quotes', 'a"b'],
    ['empty', '']
  ])('replaces one that is %s', async (_why, id) => {
    const res = await app.inject({ url: '/health', headers: { 'x-request-id': id } })
    expect(res.headers['x-request-id']).toMatch(UUID_V4)
  })
})
