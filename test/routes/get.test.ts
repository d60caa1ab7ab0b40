import { randomUUID } from 'node:crypto'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Session } from '../../src/store/types.js'
import { apiError, buildApp, call, newSession, ok, uniqueIp } from '../support/app.js'

let app: FastifyInstance
beforeAll(async () => { app = await buildApp({ env: { EXTRA_MAX_BYTES: '1024' } }) })
afterAll(async () => { await app.close() })

const get = async (token: string, init: { ip?: string, payload?: string | object, headers?: Record<string, string> } = {}): Promise<Session> =>
  await ok(app, {
    method: 'GET',
    url: '/get',
    query: { token, ...(init.ip ? { ip: init.ip } : {}) },
    ...(init.payload !== undefined ? { payload: init.payload } : {}),
    headers: init.headers
  })

describe('/get', () => {
  it('returns the session', async () => {
    const session = await newSession(app)
    expect(await get(session.token)).toEqual({ ...session, activity: expect.any(Number) })
  })

  it('answers POST like GET', async () => {
    const session = await newSession(app)
    expect(await ok(app, { method: 'POST', url: `/get?token=${session.token}` })).toMatchObject({ token: session.token })
  })

  it('sets activity to now', async () => {
    const session = await newSession(app)
    await vi.waitFor(async () => {
      expect((await get(session.token)).activity).toBeGreaterThan(session.create)
    }, { timeout: 5000, interval: 250 })
    const touched = await get(session.token)
    expect(touched.create).toBe(session.create)
    expect(touched.activity).toBeLessThanOrEqual(Math.floor(Date.now() / 1000))
  })

  it('finds a token written in upper case', async () => {
    const session = await newSession(app)
    expect((await get(session.token.toUpperCase())).token).toBe(session.token)
  })

  it('makes a given ip the current one, where /ip finds it', async () => {
    const oldIp = uniqueIp()
    const session = await newSession(app, undefined, oldIp)
    const moved = await get(session.token, { ip: '2001:DB8:0:0:0:0:0:AB' })
    expect(moved.ip).toBe('2001:db8::ab')
    expect((await ok<Session[]>(app, { url: '/ip?ip=2001:db8::ab' })).map((s) => s.token)).toContain(session.token)
    expect((await ok<Session[]>(app, { url: `/ip?ip=${oldIp}` })).map((s) => s.token)).not.toContain(session.token)
  })

  it('rejects an invalid ip with invalid_ip and leaves the session alone', async () => {
    const session = await newSession(app)
    const res = await call(app, { url: `/get?token=${session.token}&ip=1.2.3.999` })
    expect(res.statusCode).toBe(400)
    expect(res.body).toEqual(apiError('invalid_ip'))
    expect((await get(session.token)).ip).toBe(session.ip)
  })

  it.each([
    ['an unknown token', `token=${randomUUID()}`],
    ['a malformed token', 'token=not-a-token'],
    ['a token with extra characters', `token=${randomUUID()}x`],
    ['an empty token', 'token='],
    ['no token', '']
  ])('answers token_not_found for %s', async (_what, query) => {
    const res = await call(app, { url: `/get?${query}` })
    expect(res.statusCode).toBe(404)
    expect(res.body).toEqual(apiError('token_not_found'))
  })

  describe('extra data', () => {
    it('merges a JSON body into extra, shallowly, new keys winning', async () => {
      const session = await newSession(app, undefined, undefined, { a: 1, b: { x: 1 }, keep: true })
      const merged = await get(session.token, { payload: { a: 2, b: { y: 2 }, c: null } })
      expect(merged.extra).toEqual({ a: 2, b: { y: 2 }, keep: true, c: null })
      expect((await get(session.token)).extra).toEqual(merged.extra)
    })

    it('merges a form body sent with a GET (the seed PHP example)', async () => {
      const session = await newSession(app)
      const merged = await get(session.token, {
        payload: 'device=Nexus+5&os=Android',
        headers: { 'content-type': 'application/x-www-form-urlencoded' }
      })
      expect(merged.extra).toEqual({ device: 'Nexus 5', os: 'Android' })
    })

    it('works over real HTTP, as PHP file_get_contents sends it', async () => {
      await app.listen({ port: 0, host: '127.0.0.1' })
      const { port } = app.server.address() as AddressInfo
      const session = await newSession(app)
      const body = 'device=Nexus+5&os=Android'
      const reply = await new Promise<{ status: number, json: { data: Session } }>((resolve, reject) => {
        const req = request({
          host: '127.0.0.1',
          port,
          method: 'GET',
          path: `/get?token=${session.token}`,
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) }
        }, (res) => {
          let text = ''
          res.on('data', (chunk) => { text += chunk })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }))
        })
        req.on('error', reject)
        req.end(body)
      })
      expect(reply.status).toBe(200)
      expect(reply.json.data.extra).toEqual({ device: 'Nexus 5', os: 'Android' })
    })

    it.each([
      ['no body', undefined, undefined],
      ['an empty form body', '', 'application/x-www-form-urlencoded'],
      ['an empty JSON body', '', 'application/json'],
      ['an empty body of another type', '', 'text/plain'],
      ['an empty JSON object', '{}', 'application/json']
    ])('leaves extra alone with %s', async (_what, payload, type) => {
      const session = await newSession(app, undefined, undefined, { a: 1 })
      const got = await get(session.token, { payload, headers: type ? { 'content-type': type } : {} })
      expect(got.extra).toEqual({ a: 1 })
    })

    it.each([
      ['invalid JSON', '{"a":', 'application/json'],
      ['a JSON array', '[1,2]', 'application/json'],
      ['a JSON string', '"a"', 'application/json'],
      ['JSON null', 'null', 'application/json'],
      ['a __proto__ key', '{"__proto__":{"x":1}}', 'application/json'],
      ['a __proto__ form key', '__proto__=a&__proto__=b', 'application/x-www-form-urlencoded']
    ])('rejects %s with invalid_extra', async (_what, payload, type) => {
      const session = await newSession(app, undefined, undefined, { a: 1 })
      const res = await call(app, { url: `/get?token=${session.token}`, payload, headers: { 'content-type': type } })
      expect(res.statusCode).toBe(400)
      expect(res.body).toEqual(apiError('invalid_extra'))
      expect((await get(session.token)).extra).toEqual({ a: 1 })
    })

    it('rejects extra nested deeper than 32 levels with invalid_extra, without a 500', async () => {
      const session = await newSession(app)
      const nest = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
      expect((await get(session.token, { payload: nest(32), headers: { 'content-type': 'application/json' } })).extra)
        .toEqual(JSON.parse(nest(32)))
      for (const depth of [33, 200]) {
        const res = await call(app, { url: `/get?token=${session.token}`, payload: nest(depth), headers: { 'content-type': 'application/json' } })
        expect(res.statusCode).toBe(400)
        expect(res.body).toEqual(apiError('invalid_extra'))
      }
      const arrays = `{"a":${'['.repeat(300)}${']'.repeat(300)}}`
      const res = await call(app, { url: '/new?user_id=1&ip=127.0.0.1', payload: arrays, headers: { 'content-type': 'application/json' } })
      expect(res.statusCode).toBe(400)
      expect(res.body).toEqual(apiError('invalid_extra'))
    })

    it('rejects a body of another content type with unsupported_media_type', async () => {
      const session = await newSession(app)
      const res = await call(app, { url: `/get?token=${session.token}`, payload: 'a=1', headers: { 'content-type': 'text/plain' } })
      expect(res.statusCode).toBe(415)
      expect(res.body).toEqual(apiError('unsupported_media_type'))
    })

    it('rejects extra larger than EXTRA_MAX_BYTES with payload_too_large', async () => {
      const session = await newSession(app)
      for (const payload of [{ big: 'x'.repeat(1100) }, `big=${'x'.repeat(1100)}`, `big=${'%41'.repeat(1500)}`]) {
        const res = await call(app, {
          url: `/get?token=${session.token}`,
          payload,
          headers: { 'content-type': typeof payload === 'string' ? 'application/x-www-form-urlencoded' : 'application/json' }
        })
        expect(res.statusCode).toBe(413)
        expect(res.body).toEqual(apiError('payload_too_large'))
      }
      expect((await get(session.token)).extra).toBeNull()
    })

    it('measures merged extra as JSON, as the request body is measured', async () => {
      // 1000 slashes: 1010 bytes of JSON here, though Tarantool's encoder writes each as '\\/'.
      const session = await newSession(app, undefined, undefined, { a: '/'.repeat(1000) })
      expect((await get(session.token, { payload: { b: 1 } })).extra).toEqual({ a: '/'.repeat(1000), b: 1 })
    })

    it('rejects a merge whose result would exceed the limit, keeping the old extra', async () => {
      const session = await newSession(app, undefined, undefined, { a: 'x'.repeat(600) })
      const res = await call(app, { url: `/get?token=${session.token}`, payload: { b: 'y'.repeat(600) } })
      expect(res.statusCode).toBe(413)
      expect(res.body).toEqual({ status: 'error', code: 'payload_too_large', message: 'Extra data is larger than 1024 bytes' })
      expect((await get(session.token)).extra).toEqual({ a: 'x'.repeat(600) })
    })
  })
})
