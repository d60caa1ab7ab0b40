// API_KEY: when set, the session API wants `Authorization: Bearer <key>`; probes, metrics and docs
// stay open.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { ERRORS } from '../../src/api/errors.js'
import { apiError, buildApp, call, SESSION_ID, uniqueUserId, UUID_V4 } from '../support/app.js'

const KEY = 'correct-horse-battery-staple'

describe('with API_KEY set', () => {
  let app: FastifyInstance
  beforeAll(async () => { app = await buildApp({ env: { API_KEY: KEY } }) })
  afterAll(async () => { await app.close() })

  it.each([
    ['no Authorization header', undefined],
    ['a wrong key', `Bearer ${KEY}x`],
    ['a short wrong key', 'Bearer x'],
    ['the key under another scheme', `Basic ${KEY}`],
    ['the key alone', KEY],
    ['an empty bearer', 'Bearer ']
  ])('refuses %s with 401 unauthorized', async (_why, authorization) => {
    for (const url of ['/new?user_id=1&ip=127.0.0.1', '/get?token=61494096-9af7-49ba-9fb4-e89c0811e6d3', '/user?id=1', '/ip?ip=127.0.0.1', '/del?token=x']) {
      const res = await app.inject({ url, headers: authorization === undefined ? {} : { authorization } })
      expect(res.statusCode).toBe(401)
      expect(res.json()).toEqual(apiError('unauthorized'))
      expect(res.headers['www-authenticate']).toBe('Bearer')
    }
  })

  it('serves a caller with the key, whatever the case of the scheme', async () => {
    const userId = uniqueUserId()
    const created = []
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const res = await call(app, { url: `/new?user_id=${userId}&ip=127.0.0.1`, headers: { authorization: `${scheme} ${KEY}` } })
      expect(res).toEqual({
        statusCode: 200,
        body: { status: 'success', data: { user_id: userId, ip: '127.0.0.1', extra: null, token: expect.stringMatching(UUID_V4), id: expect.stringMatching(SESSION_ID), create: expect.any(Number), activity: expect.any(Number), expires: expect.any(Number) } }
      })
      created.push((res.body as { data: unknown }).data)
    }
    const list = await call<unknown[]>(app, { url: `/user?id=${userId}`, headers: { authorization: `Bearer ${KEY}` } })
    expect(list).toEqual({ statusCode: 200, body: { status: 'success', data: expect.arrayContaining(created), next: null } })
    expect((list.body as { data: unknown[] }).data).toHaveLength(3)
  })

  it('wants the key for the event stream and its pages too, and streams with it', async () => {
    for (const headers of [{}, { accept: 'text/event-stream' }, { accept: 'text/event-stream', authorization: `Bearer ${KEY}x` }]) {
      const res = await app.inject({ url: '/events?after=0', headers })
      expect(res.statusCode).toBe(401)
      expect(res.json()).toEqual(apiError('unauthorized'))
    }
    expect((await call(app, { url: '/events?after=0&limit=1', headers: { authorization: `Bearer ${KEY}` } })).statusCode).toBe(200)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const controller = new AbortController()
    const res = await fetch(`http://127.0.0.1:${(app.server.address() as { port: number }).port}/events`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${KEY}` },
      signal: controller.signal
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    controller.abort()
  })

  it('checks the key before anything else: no validation hints without it', async () => {
    const res = await call(app, { url: '/new?user_id=nope' })
    // The message too: the refusal's own, not the validation's.
    expect(res).toEqual({ statusCode: 401, body: { status: 'error', code: 'unauthorized', message: ERRORS.unauthorized.message } })
  })

  it('leaves probes, metrics and the docs open', async () => {
    for (const url of ['/health', '/ready', '/metrics', '/openapi.json', '/docs/']) {
      expect((await app.inject({ url })).statusCode, url).toBe(200)
    }
  })
})

describe('without API_KEY', () => {
  it('serves everyone', async () => {
    const app = await buildApp()
    try {
      expect(await call(app, { url: `/user?id=${uniqueUserId()}` })).toEqual({ statusCode: 200, body: { status: 'success', data: [], next: null } })
    } finally {
      await app.close()
    }
  })

  it('takes an empty API_KEY as unset and refuses a short or spaced one', () => {
    expect(loadConfig({ API_KEY: '' }).API_KEY).toBeUndefined()
    expect(() => loadConfig({ API_KEY: 'short' })).toThrow(/API_KEY must NOT have fewer than 16 characters/)
    expect(() => loadConfig({ API_KEY: 'has a space in the middle' })).toThrow(/API_KEY must be printable ASCII without spaces or #/)
    expect(() => loadConfig({ API_KEY: 'sixteen-chars-and#comment' })).toThrow(/API_KEY must be printable ASCII without spaces or #/)
  })
})
