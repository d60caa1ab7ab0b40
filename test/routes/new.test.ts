import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Session } from '../../src/store/types.js'
import { apiError, buildApp, call, newSession, ok, uniqueIp, uniqueUserId, SESSION_ID, UUID_V4 } from '../support/app.js'

let app: FastifyInstance
beforeAll(async () => { app = await buildApp() })
afterAll(async () => { await app.close() })

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

describe('/new', () => {
  it('creates a session and returns the SessionObject', async () => {
    const userId = uniqueUserId()
    const ip = uniqueIp()
    const before = nowSeconds()
    const res = await call<Session>(app, { method: 'GET', url: `/new?user_id=${userId}&ip=${ip}` })
    const after = nowSeconds()

    expect(res.statusCode).toBe(200)
    expect(res.body).toEqual({
      status: 'success',
      data: { ip, extra: null, user_id: userId, create: expect.any(Number), activity: expect.any(Number), token: expect.stringMatching(UUID_V4), id: expect.stringMatching(SESSION_ID), expires: expect.any(Number) }
    })
    const session = (res.body as { data: Session }).data
    expect(Object.keys(session)).toEqual(['ip', 'extra', 'user_id', 'create', 'activity', 'token', 'id', 'expires'])
    expect(session.create).toBe(session.activity)
    expect(session.expires).toBe(session.activity + 180 * 24 * 3600)
    expect(session.create).toBeGreaterThanOrEqual(before)
    expect(session.create).toBeLessThanOrEqual(after)
    expect(await ok(app, { url: `/get?token=${session.token}` })).toMatchObject({ user_id: userId, ip })
  })

  it('answers POST like GET', async () => {
    const userId = uniqueUserId()
    const session = await ok(app, { method: 'POST', url: `/new?user_id=${userId}&ip=127.0.0.1` })
    expect(session).toMatchObject({ user_id: userId, ip: '127.0.0.1', extra: null })
  })

  it.each([
    ['0', 0],
    ['4294967296', 2 ** 32],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
    ['007', 7]
  ])('takes user_id %s exactly', async (raw, expected) => {
    const session = await ok(app, { url: `/new?user_id=${raw}&ip=${uniqueIp()}` })
    expect(session.user_id).toBe(expected)
    const listed = await ok<Session[]>(app, { url: `/user?id=${expected}` })
    expect(listed.map((s) => s.token)).toContain(session.token)
    expect(listed.find((s) => s.token === session.token)?.user_id).toBe(expected)
  })

  it.each([
    'abc', '-1', '1.5', '1e3', '0x10', '', ' 1', '1 ', '+1', '9007199254740992', '18446744073709551616',
    '99999999999999999999999999999999999'
  ])('rejects user_id %j with invalid_user_id', async (raw) => {
    const res = await call(app, { url: '/new', query: { user_id: raw, ip: '127.0.0.1' } })
    expect(res.statusCode).toBe(400)
    expect(res.body).toEqual(apiError('invalid_user_id'))
  })

  it('rejects a missing or repeated user_id with invalid_user_id', async () => {
    for (const url of ['/new?ip=127.0.0.1', '/new?user_id=1&user_id=2&ip=127.0.0.1']) {
      const res = await call(app, { url })
      expect(res.statusCode).toBe(400)
      expect(res.body).toEqual(apiError('invalid_user_id'))
    }
  })

  it.each([
    '1.2.3', '256.1.1.1', '01.2.3.4', '127.1', '1.2.3.4/24', 'abc', '', ' 1.2.3.4', 'fe80::1%eth0',
    '2001:db8::g', '1:2:3:4:5:6:7:8:9', "'; DROP TABLE sessions; --"
  ])('rejects ip %j with invalid_ip', async (ip) => {
    const res = await call(app, { url: '/new', query: { user_id: '1', ip } })
    expect(res.statusCode).toBe(400)
    expect(res.body).toEqual(apiError('invalid_ip'))
  })

  it('rejects a missing ip with invalid_ip', async () => {
    const res = await call(app, { url: '/new?user_id=1' })
    expect(res.statusCode).toBe(400)
    expect(res.body).toEqual(apiError('invalid_ip'))
  })

  it.each([
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0000:0000:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::1', '::1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['fe80::0:1', 'fe80::1']
  ])('stores IPv6 %s in canonical form %s', async (ip, canonical) => {
    const session = await ok(app, { url: '/new', query: { user_id: '1', ip } })
    expect(session.ip).toBe(canonical)
  })

  it('stores a JSON body as extra', async () => {
    const extra = { device: 'Nexus 5', os: 'Android', nested: { a: [1, 2, { b: null }] }, n: 1.5 }
    const session = await newSession(app, uniqueUserId(), uniqueIp(), extra)
    expect(session.extra).toEqual(extra)
    expect((await ok(app, { url: `/get?token=${session.token}` })).extra).toEqual(extra)
  })

  it('stores a form body as extra, on GET as the seed PHP client sends it', async () => {
    const session = await ok(app, {
      method: 'GET',
      url: `/new?user_id=${uniqueUserId()}&ip=${uniqueIp()}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'device=Nexus+5&os=Android&note=caf%C3%A9'
    })
    expect(session.extra).toEqual({ device: 'Nexus 5', os: 'Android', note: 'café' })
  })

  it('gives every session its own random token, also under concurrent creation', async () => {
    const userId = uniqueUserId()
    const created = await Promise.all(Array.from({ length: 300 }, async () => await newSession(app, userId)))
    const tokens = new Set(created.map((s) => s.token))
    expect(tokens.size).toBe(300)
    for (const token of tokens) expect(token).toMatch(UUID_V4)
    const listed = await ok<Session[]>(app, { url: `/user?id=${userId}` })
    expect(new Set(listed.map((s) => s.token))).toEqual(tokens)
  })

  it('makes one session of a create sent twice with the same token (a retry), even at the limit', async () => {
    const userId = uniqueUserId()
    const token = crypto.randomUUID()
    const first = await app.store.create(token, userId, '10.0.0.1', { a: 1 })
    const again = await app.store.create(token, userId, '10.0.0.1', { a: 1 })
    expect(again).toEqual(first)
    expect(await ok<Session[]>(app, { url: `/user?id=${userId}` })).toHaveLength(1)
  })
})
