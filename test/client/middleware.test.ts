// The Fastify plugin and the Express-style middleware, each in front of a tiny app, against the
// real service: the session on the request, 401 without one, 503 while the service cannot tell.
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { describe, expect, it, vi } from 'vitest'
import { SessionsClient, setSessionCookie, type SessionMiddlewareOptions } from '../../client/src/index.js'
import { sessionsMiddleware, type RequestWithSession } from '../../client/src/express.js'
import { sessionsPlugin } from '../../client/src/fastify.js'
import { uniqueIp, uniqueUserId } from '../support/app.js'
import { serveApp, useServedClient } from '../support/client.js'
import { startFakeService } from '../support/events-service.js'
import { freePort } from '../support/tarantool.js'

interface Answer { status: number, body: any, headers: Headers }

/** A tiny app behind the middleware, answering `{ session }`; `call` sends it a request with these headers. */
interface Adapter {
  name: string
  start: (opts: SessionMiddlewareOptions<any>) => Promise<{ call: (headers?: Record<string, string>) => Promise<Answer>, close: () => Promise<void> }>
}

async function answer (url: string, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(url, { headers })
  const text = await res.text()
  return { status: res.status, body: JSON.parse(text), headers: res.headers }
}

const fastifyAdapter: Adapter = {
  name: 'Fastify plugin',
  start: async (opts) => {
    const app = Fastify()
    await app.register(sessionsPlugin, opts)
    app.get('/', async (request) => ({ session: request.session }))
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    return { call: async (headers = {}) => await answer(url, headers), close: async () => { await app.close() } }
  }
}

const expressAdapter: Adapter = {
  name: 'Express middleware',
  start: async (opts) => {
    const middleware = sessionsMiddleware<IncomingMessage>(opts)
    const server = createServer((req, res) => {
      middleware(req, res, (err) => {
        res.setHeader('content-type', 'application/json')
        if (err !== undefined) {
          res.statusCode = 500
          res.end(JSON.stringify({ error: (err as Error).message, cause: ((err as Error).cause as { code?: string } | undefined)?.code }))
          return
        }
        res.end(JSON.stringify({ session: (req as RequestWithSession).session }))
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
    return {
      call: async (headers = {}) => await answer(url, headers),
      close: async () => { await new Promise((resolve) => { server.close(resolve); server.closeAllConnections() }) }
    }
  }
}

const the = useServedClient()

const GONE = '00000000-0000-4000-8000-000000000000'

describe.each([fastifyAdapter, expressAdapter])('$name', (adapter) => {
  /** Runs `fn` with the adapter's app started with these options. */
  async function withApp (opts: SessionMiddlewareOptions<any>, fn: (call: (headers?: Record<string, string>) => Promise<Answer>) => Promise<void>): Promise<void> {
    const started = await adapter.start(opts)
    try {
      await fn(started.call)
    } finally {
      await started.close()
    }
  }

  it('puts the session of the cookie or of the Bearer header (which wins) on the request', async () => {
    const session = await the.client.create(uniqueUserId(), uniqueIp(), { device: 'phone' })
    await withApp({ client: the.client }, async (call) => {
      const found = { status: 200, body: { session: { ...session, activity: expect.any(Number), expires: expect.any(Number) } } }
      expect(await call({ cookie: `theme=dark; session=${session.token}; other=1` })).toMatchObject(found)
      expect(await call({ authorization: `Bearer ${session.token}` })).toMatchObject(found)
      expect(await call({ authorization: `Bearer ${session.token}`, cookie: `session=${GONE}` })).toMatchObject(found)
    })
  })

  it('answers 401 with the envelope when there is no token or its session is gone', async () => {
    const ended = await the.client.create(uniqueUserId(), uniqueIp())
    await the.client.delete(ended.token)
    await withApp({ client: the.client }, async (call) => {
      const none = await call()
      expect(none).toMatchObject({ status: 401, body: { status: 'error', code: 'token_not_found', message: 'No session token' } })
      expect(none.headers.get('www-authenticate')).toBe('Bearer')
      const gone: Array<Record<string, string>> = [{ cookie: `session=${ended.token}` }, { cookie: 'session=not-a-token' }, { authorization: `Bearer ${GONE}` }]
      for (const headers of gone) {
        expect(await call(headers)).toMatchObject({ status: 401, body: { status: 'error', code: 'token_not_found', message: 'Session not found' } })
      }
    })
  })

  it('with optional, lets requests without a live session through with session null', async () => {
    await withApp({ client: the.client, optional: true }, async (call) => {
      expect(await call()).toMatchObject({ status: 200, body: { session: null } })
      expect(await call({ cookie: `session=${GONE}` })).toMatchObject({ status: 200, body: { session: null } })
    })
  })

  it('reads the cookie it is told to, or none; records the address it is given', async () => {
    const session = await the.client.create(uniqueUserId(), uniqueIp())
    await withApp({ client: the.client, cookie: 'sid', bearer: false, ip: () => '2001:DB8::7' }, async (call) => {
      expect(await call({ cookie: `session=${session.token}` })).toMatchObject({ status: 401 })
      expect(await call({ authorization: `Bearer ${session.token}` })).toMatchObject({ status: 401 })
      expect(await call({ cookie: `sid=${session.token}` })).toMatchObject({ status: 200, body: { session: { id: session.id, ip: '2001:db8::7' } } })
    })
    await withApp({ client: the.client, cookie: false }, async (call) => {
      expect(await call({ cookie: `session=${session.token}` })).toMatchObject({ status: 401 })
    })
  })

  it('answers 503, not 401, when the sessions service cannot be reached', async () => {
    const away = new SessionsClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, retries: 0 })
    await withApp({ client: away }, async (call) => {
      expect(await call({ cookie: `session=${GONE}` }))
        .toMatchObject({ status: 503, body: { status: 'error', code: 'storage_unavailable', message: expect.any(String) } })
    })
  })

  it('fails the request as a server error, not a 401, when the service refuses the call (a wrong API key)', async () => {
    const keyed = await serveApp({ env: { API_KEY: 'the-right-key-of-16-chars' } })
    try {
      const wrongKey = new SessionsClient({ baseUrl: keyed.baseUrl, apiKey: 'a-wrong-key-of-16-chars' })
      await withApp({ client: wrongKey }, async (call) => {
        const res = await call({ cookie: `session=${GONE}` })
        expect(res.status).toBe(500)
      })
    } finally {
      await keyed.app.close()
    }
  })
})

describe.each([fastifyAdapter, expressAdapter])('$name with a caching client', (adapter) => {
  it('answers from the cache; with `ip`, writes only when the address is not the session\'s already', async () => {
    const fake = await startFakeService()
    const client = new SessionsClient({ baseUrl: fake.baseUrl, cache: { ttlMs: 60_000, max: 100 } })
    let address = '192.0.2.1'
    const started = await adapter.start({ client, ip: () => address })
    try {
      await vi.waitFor(() => { expect(client.cacheStats()?.streamConnected).toBe(true) })
      const session = fake.add({ ip: '192.0.2.1' })
      const cookie = { cookie: `session=${session.token}` }
      for (let i = 0; i < 3; i++) expect(await started.call(cookie)).toMatchObject({ status: 200, body: { session: { id: session.id } } })
      expect(fake.gets()).toEqual([`GET /get?token=${session.token}`])

      address = '::ffff:192.0.2.1'
      expect(await started.call(cookie)).toMatchObject({ status: 200 })
      expect(fake.gets()).toHaveLength(1)

      address = '192.0.2.2'
      expect(await started.call(cookie)).toMatchObject({ status: 200, body: { session: { ip: '192.0.2.2' } } })
      expect(fake.gets().slice(1)).toEqual([`GET /get?token=${session.token}&ip=192.0.2.2`])
      for (let i = 0; i < 2; i++) expect(await started.call(cookie)).toMatchObject({ status: 200, body: { session: { ip: '192.0.2.2' } } })
      expect(fake.gets().slice(2)).toEqual([`GET /get?token=${session.token}`])
    } finally {
      await started.close()
      await client.close()
      await fake.close()
    }
  })
})

describe('Fastify plugin', () => {
  it('applies to the scope it is registered in; a login route sets the cookie the next request is known by', async () => {
    const app = Fastify()
    app.post('/login', async (_request, reply) => {
      const session = await the.client.create(uniqueUserId(), '127.0.0.1')
      setSessionCookie(reply, session, { secure: false })
      return { id: session.id }
    })
    await app.register(async (scope) => {
      await scope.register(sessionsPlugin, { client: the.client })
      scope.get('/me', async (request) => ({ user_id: request.session?.user_id, id: request.session?.id }))
    })
    const login = await app.inject({ method: 'POST', url: '/login' })
    expect(login.statusCode).toBe(200)
    const cookie = String(login.headers['set-cookie'])
    expect(cookie).toMatch(/^session=[0-9a-f-]{36}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/)
    const me = await app.inject({ url: '/me', headers: { cookie: cookie.split(';')[0] } })
    expect(me.json()).toEqual({ user_id: expect.any(Number), id: login.json().id })
    expect((await app.inject({ url: '/me' })).statusCode).toBe(401)
    await app.close()
  })
})
