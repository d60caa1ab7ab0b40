// The Node client against the real service: every method, the requests it sends, pages, errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SessionsClient, SessionsError, type Session } from '../../client/src/index.js'
import { SESSION_ID, uniqueIp, uniqueUserId, UUID_V4 } from '../support/app.js'
import { countingFetch, serveApp, type ServedApp } from '../support/client.js'

let served: ServedApp
let client: SessionsClient
let sent: string[]
beforeAll(async () => {
  served = await serveApp()
  const counting = countingFetch()
  sent = counting.sent
  client = new SessionsClient({ baseUrl: served.baseUrl, fetch: counting.fetch })
})
afterAll(async () => { await served.app.close() })

/** What the client sent during `fn`. */
async function requests (fn: () => Promise<unknown>): Promise<string[]> {
  const from = sent.length
  await fn()
  return sent.slice(from)
}

/** The SessionsError a call throws. */
async function failure (call: Promise<unknown>): Promise<SessionsError> {
  const err = await call.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(SessionsError)
  return err as SessionsError
}

const now = (): number => Math.floor(Date.now() / 1000)

describe('SessionsClient', () => {
  it('create: a session with its token and id; extra as a JSON body, ttl and lifetime in the query', async () => {
    const userId = uniqueUserId()
    const ip = uniqueIp()
    const extra = { device: 'Nexus 5', n: 0.30000000000000004, nested: { list: [1, 'two', null] } }
    let session: Session | undefined
    expect(await requests(async () => { session = await client.create(userId, ip, extra, { ttl: 600, lifetime: 300 }) }))
      .toEqual([`POST /new?user_id=${userId}&ip=${ip}&ttl=600&lifetime=300`])
    expect(session).toEqual({
      ip,
      extra,
      user_id: userId,
      create: expect.any(Number),
      activity: expect.any(Number),
      token: expect.stringMatching(UUID_V4),
      id: expect.stringMatching(SESSION_ID),
      expires: session!.create + 300
    })
    expect(Math.abs(session!.create - now())).toBeLessThanOrEqual(2)

    const bare = await client.create(userId, '2001:DB8:0:0:0:0:0:1')
    expect(bare).toMatchObject({ ip: '2001:db8::1', extra: null, expires: bare.activity + 180 * 24 * 3600 })
  })

  it('get: the session, marked used; ip becomes its current one; extra merges (a POST only when there is a body)', async () => {
    const created = await client.create(uniqueUserId(), uniqueIp(), { a: 1, b: 2 })
    expect(await requests(async () => {
      expect(await client.get(created.token)).toEqual({ ...created, activity: expect.any(Number), expires: expect.any(Number) })
    })).toEqual([`GET /get?token=${created.token}`])

    const ip = uniqueIp()
    let got: Session | undefined
    expect(await requests(async () => { got = await client.get(created.token, { ip, extra: { b: 3, c: null } }) }))
      .toEqual([`POST /get?token=${created.token}&ip=${ip}`])
    expect(got).toMatchObject({ id: created.id, ip, extra: { a: 1, b: 3, c: null } })
  })

  it('delete and deleteById: the session as it was, then token_not_found', async () => {
    const byToken = await client.create(uniqueUserId(), uniqueIp())
    expect(await client.delete(byToken.token)).toMatchObject({ id: byToken.id, token: byToken.token })
    const gone = await failure(client.get(byToken.token))
    expect(gone).toMatchObject({ code: 'token_not_found', status: 404, message: 'Session not found', attempts: 1 })
    expect(await failure(client.delete(byToken.token))).toMatchObject({ code: 'token_not_found', status: 404 })

    const byId = await client.create(uniqueUserId(), uniqueIp())
    expect(await requests(async () => {
      expect(await client.deleteById(byId.id)).toMatchObject({ id: byId.id, user_id: byId.user_id })
    })).toEqual([`POST /del?id=${byId.id}`])
    expect(await failure(client.deleteById(byId.id))).toMatchObject({ code: 'token_not_found', status: 404 })
  })

  it('user and ip: pages newest first with their cursor; eachOfUser and eachAtIp walk every page', async () => {
    const userId = uniqueUserId()
    const ip = uniqueIp()
    const created: Session[] = []
    for (let i = 0; i < 5; i++) created.push(await client.create(userId, ip))
    const ids = created.map((s) => s.id).sort()

    const first = await client.user(userId, { limit: 2 })
    expect(first.sessions).toHaveLength(2)
    expect(first.next).toEqual(expect.any(String))
    const second = await client.user(userId, { limit: 2, after: first.next! })
    expect(second.sessions.map((s) => s.id)).not.toContain(first.sessions[0].id)
    expect((await client.user(uniqueUserId())).sessions).toEqual([])
    expect(await client.user(uniqueUserId())).toEqual({ sessions: [], next: null })

    for (const [each, list, key] of [
      [(opts: { limit: number }) => client.eachOfUser(userId, opts), '/user', `id=${userId}`],
      [(opts: { limit: number }) => client.eachAtIp(ip, opts), '/ip', `ip=${ip}`]
    ] as const) {
      const seen: Session[] = []
      const sentNow = await requests(async () => { for await (const session of each({ limit: 2 })) seen.push(session) })
      expect(seen.map((s) => s.id).sort()).toEqual(ids)
      expect(seen.every((s, i) => i === 0 || seen[i - 1].activity >= s.activity)).toBe(true)
      expect(sentNow).toHaveLength(3)
      expect(sentNow[0]).toBe(`GET ${list}?${key}&limit=2`)
      expect(sentNow[1]).toMatch(new RegExp(`^GET ${list}\\?${key.replace('.', '\\.')}&limit=2&after=[\\w-]+$`))
    }
    const page = await client.ip(ip, { limit: 10 })
    expect(page).toEqual({ sessions: expect.any(Array), next: null })
    expect(page.sessions.find((s) => s.id === created[0].id)).toEqual({ ...created[0], activity: expect.any(Number), expires: expect.any(Number), token: expect.any(String) })
  })

  it('deleteUser (all, but a token, but an id) and deleteIp: how many ended', async () => {
    const userId = uniqueUserId()
    const mine = await client.create(userId, uniqueIp())
    for (let i = 0; i < 3; i++) await client.create(userId, uniqueIp())
    expect(await client.deleteUser(userId, { except: mine.token })).toBe(3)
    await client.create(userId, uniqueIp())
    expect(await client.deleteUser(userId, { exceptId: mine.id })).toBe(1)
    expect((await client.get(mine.token)).id).toBe(mine.id)
    expect(await requests(async () => { expect(await client.deleteUser(userId)).toBe(1) }))
      .toEqual([`POST /del_user?id=${userId}`])
    expect(await client.deleteUser(userId)).toBe(0)

    const ip = uniqueIp()
    await client.create(uniqueUserId(), ip)
    await client.create(uniqueUserId(), ip)
    expect(await client.deleteIp(ip)).toBe(2)
    expect(await client.deleteIp(ip)).toBe(0)
  })

  it('rotate: a new token, the same id; with grace the old token still opens it for get', async () => {
    const before = await client.create(uniqueUserId(), uniqueIp(), { k: 'v' })
    const rotated = await client.rotate(before.token, { grace: 5 })
    expect(rotated).toMatchObject({ id: before.id, extra: { k: 'v' }, token: expect.stringMatching(UUID_V4) })
    expect(rotated.token).not.toBe(before.token)
    expect((await client.get(before.token)).id).toBe(before.id)
    expect(await failure(client.rotate(before.token))).toMatchObject({ code: 'token_not_found', status: 404, attempts: 1 })
    expect(await requests(async () => { await client.rotate(rotated.token) })).toEqual([`POST /rotate?token=${rotated.token}`])
  })

  it('events: pages of what happened, oldest first, a user\'s only with userId, going on from next', async () => {
    const userId = uniqueUserId()
    const first = await client.create(userId, uniqueIp())
    const second = await client.create(userId, uniqueIp())
    await client.delete(first.token)
    let page!: Awaited<ReturnType<SessionsClient['events']>>
    expect(await requests(async () => { page = await client.events({ userId, limit: 2 }) })).toEqual([`GET /events?limit=2&user_id=${userId}`])
    expect(page.reset).toBe(false)
    expect(page.events.map((e) => [e.type, e.id])).toEqual([['created', first.id], ['created', second.id]])
    expect(page.events[0]).toMatchObject({ user_id: userId, ip: first.ip, time: expect.any(Number) })
    const rest = await client.events({ userId, after: page.next })
    expect(rest.events.map((e) => [e.type, e.id, e.reason])).toEqual([['revoked', first.id, 'deleted']])
    expect(rest.next).toBe(rest.events[0].seq)
    expect((await client.events({ userId, after: rest.next })).events).toEqual([])
    // Every user's: the newest events include this one's.
    const all = await client.events({ after: page.events[0].seq - 1, limit: 1000 })
    expect(all.events.filter((e) => e.user_id === userId).map((e) => e.type)).toEqual(['created', 'created', 'revoked'])
    expect((await failure(client.events({ limit: 0 }))).code).toBe('invalid_limit')
  })

  it('ready: the Tarantool version and the sessions stored', async () => {
    expect(await client.ready()).toEqual({ tarantool_version: expect.any(String), sessions: expect.any(Number) })
  })

  it('throws the service\'s error envelopes as SessionsError, without retrying them', async () => {
    const cases: Array<[() => Promise<unknown>, string, number]> = [
      [() => client.create(-1, '127.0.0.1'), 'invalid_user_id', 400],
      [() => client.create(1.5, '127.0.0.1'), 'invalid_user_id', 400],
      [() => client.create(1, 'localhost'), 'invalid_ip', 400],
      [() => client.create(1, '127.0.0.1', null, { ttl: 0 }), 'invalid_ttl', 400],
      [() => client.create(1, '127.0.0.1', null, { lifetime: 315360001 }), 'invalid_lifetime', 400],
      [() => client.get('not-a-token'), 'token_not_found', 404],
      [() => client.get('00000000-0000-4000-8000-000000000000', { ip: '1.2.3.4.5' }), 'invalid_ip', 400],
      [() => client.user(1, { limit: 0 }), 'invalid_limit', 400],
      [() => client.user(1, { after: 'nonsense' }), 'invalid_cursor', 400],
      [() => client.ip('1.2.3.256'), 'invalid_ip', 400],
      [() => client.rotate('00000000-0000-4000-8000-000000000000', { grace: 61 }), 'invalid_grace', 400],
      [() => client.deleteUser(1, { except: '00000000-0000-4000-8000-000000000000', exceptId: 'x' }), 'bad_request', 400],
      [() => client.deleteIp(''), 'invalid_ip', 400]
    ]
    for (const [call, code, status] of cases) {
      const err = await failure(call())
      expect(err).toMatchObject({ name: 'SessionsError', code, status, attempts: 1 })
      expect(err.message).toEqual(expect.any(String))
      expect(err).toBeInstanceOf(Error)
    }
  })

  it('keeps its connection alive between calls', async () => {
    let connections = 0
    const count = (): void => { connections++ }
    served.app.server.on('connection', count)
    try {
      const own = new SessionsClient({ baseUrl: `${served.baseUrl}/` })
      const session = await own.create(uniqueUserId(), uniqueIp())
      for (let i = 0; i < 5; i++) await own.get(session.token)
      // The global dispatcher may have kept one from an earlier test: at most one new connection.
      expect(connections).toBeLessThanOrEqual(1)
    } finally {
      served.app.server.off('connection', count)
    }
  })
})

describe('SessionsClient with an API key', () => {
  let keyed: ServedApp
  const apiKey = 'a-key-of-sixteen-or-more'
  beforeAll(async () => { keyed = await serveApp({ env: { API_KEY: apiKey } }) })
  afterAll(async () => { await keyed.app.close() })

  it('sends it as a Bearer header; without it the service answers unauthorized', async () => {
    expect(await failure(new SessionsClient({ baseUrl: keyed.baseUrl }).create(1, '127.0.0.1')))
      .toMatchObject({ code: 'unauthorized', status: 401, attempts: 1 })
    const withKey = new SessionsClient({ baseUrl: keyed.baseUrl, apiKey })
    const session = await withKey.create(uniqueUserId(), uniqueIp())
    expect((await withKey.get(session.token)).id).toBe(session.id)
  })
})
