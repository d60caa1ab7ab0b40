// The caching client (issue 26) against a stand-in of the service (test/support/events-service.ts)
// that serves GET /events to the contract and answers /get as the test says: hits that reach no
// service, every event dropping what it names, reset, the race of an answer overtaken by a
// revocation, a stream that dies and comes back, the ttl, expires and max bounds.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SessionsClient, SessionsError, type CacheOptions, type CacheStats } from '../../client/src/index.js'
import { startFakeService, type FakeService, type FakeServiceOptions } from '../support/events-service.js'

const closing: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close()
})

async function service (opts: FakeServiceOptions = {}): Promise<FakeService> {
  const fake = await startFakeService(opts)
  closing.push(fake.close)
  return fake
}

/** A caching client of the stand-in, closed after the test. */
function caching (fake: FakeService, cache: Partial<CacheOptions> = {}): SessionsClient {
  const client = new SessionsClient({ baseUrl: fake.baseUrl, apiKey: 'the-api-key', retries: 0, cache: { ttlMs: 60_000, max: 100, ...cache } })
  closing.push(async () => { await client.close() })
  return client
}

const stats = (client: SessionsClient): CacheStats => client.cacheStats()!

async function connected (client: SessionsClient): Promise<void> {
  await vi.waitFor(() => { expect(stats(client).streamConnected).toBe(true) })
}

/** Waits until the client has received the event of this seq. */
async function received (client: SessionsClient, seq: number): Promise<void> {
  await vi.waitFor(() => { expect(stats(client).lastEventSeq).toBe(seq) })
}

/**
 * A get() of `token` whose request has reached the stand-in, which holds its answer until
 * release(): what a test does meanwhile happens while the answer is on its way.
 */
async function heldGet (fake: FakeService, client: SessionsClient, token: string): Promise<{ pending: Promise<unknown>, release: () => void }> {
  let open!: () => void
  fake.hold = new Promise((resolve) => { open = resolve })
  const pending = client.get(token)
  await vi.waitFor(() => { expect(fake.gets()).toHaveLength(1) })
  return {
    pending,
    release: () => {
      fake.hold = undefined
      open()
    }
  }
}

/** How many /get requests reached the stand-in while `fn` ran. */
async function reaching (fake: FakeService, fn: () => Promise<unknown>): Promise<number> {
  const before = fake.gets().length
  await fn()
  return fake.gets().length - before
}

describe('SessionsClient with a cache', () => {
  it('answers get(token) from memory: the second call reaches no service, and each caller gets its own copy', async () => {
    const fake = await service()
    const session = fake.add()
    const client = caching(fake)
    await connected(client)
    expect(fake.connections[0]).toMatchObject({ accept: 'text/event-stream', authorization: 'Bearer the-api-key' })
    expect(await reaching(fake, async () => { expect(await client.get(session.token)).toEqual(session) })).toBe(1)
    const copy = await client.get(session.token)
    copy.extra!.n = 2
    expect(await reaching(fake, async () => { expect(await client.get(session.token)).toEqual(session) })).toBe(0)
    expect(stats(client)).toEqual({ hits: 2, misses: 1, entries: 1, streamConnected: true, lastEventSeq: null })
  })

  it('drops a session on revoked, rotated or updated naming its id; created and other ids leave it', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    for (const type of ['revoked', 'rotated', 'updated'] as const) {
      const named = fake.add()
      const other = fake.add()
      await client.get(named.token)
      await client.get(other.token)
      await received(client, fake.emit('created', named))
      await received(client, fake.emit(type, named))
      expect(await reaching(fake, async () => { await client.get(named.token) }), type).toBe(1)
      expect(await reaching(fake, async () => { await client.get(other.token) }), type).toBe(0)
    }
  })

  it('drops every token of a session: an event names the session, not the token', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    const session = fake.add()
    const alias = { ...session, token: crypto.randomUUID() }
    fake.sessions.set(alias.token, alias)
    await client.get(session.token)
    await client.get(alias.token)
    expect(stats(client).entries).toBe(2)
    await received(client, fake.emit('rotated', session))
    expect(stats(client).entries).toBe(0)
  })

  it('drops everything on reset, and resumes after the reset\'s id', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    const sessions = [fake.add(), fake.add(), fake.add()]
    for (const s of sessions) await client.get(s.token)
    await received(client, fake.emit('created', fake.add()))
    fake.emit('created', fake.add())
    const reset = fake.reset()
    await received(client, reset)
    expect(stats(client).entries).toBe(0)
    fake.drop()
    await vi.waitFor(() => { expect(fake.connections).toHaveLength(2) })
    expect(fake.connections[1]['last-event-id']).toBe(String(reset))
  })

  it('never keeps an answer the service read before a revocation the stream has already delivered', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    const session = fake.add()
    const { pending, release } = await heldGet(fake, client, session.token)
    // The service has read the session; the revocation is made and its event delivered before the answer.
    fake.sessions.delete(session.token)
    await received(client, fake.emit('revoked', session, { reason: 'deleted' }))
    release()
    expect(await pending).toEqual(session)
    expect(stats(client).entries).toBe(0)
    const err = await client.get(session.token).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SessionsError)
    expect(err).toMatchObject({ code: 'token_not_found', status: 404 })
  })

  it('never keeps an answer on its way while this client ended a session', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    const session = fake.add()
    const { pending, release } = await heldGet(fake, client, session.token)
    await client.deleteById(session.id)
    release()
    expect(await pending).toEqual(session)
    expect(stats(client).entries).toBe(0)
  })

  it('keeps a slow answer when only other sessions\' events came meanwhile', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    const session = fake.add()
    const { pending, release } = await heldGet(fake, client, session.token)
    await received(client, fake.emit('revoked', fake.add()))
    release()
    await pending
    expect(await reaching(fake, async () => { await client.get(session.token) })).toBe(0)
  })

  it('stops answering from memory within staleMs of the stream falling silent; serves again once reconnected with Last-Event-ID', async () => {
    const fake = await service({ pingMs: 50 })
    const client = caching(fake, { staleMs: 400 })
    await connected(client)
    const session = fake.add()
    await client.get(session.token)
    const seq = fake.emit('created', fake.add())
    await received(client, seq)

    fake.silence(true)
    const since = performance.now()
    await vi.waitFor(async () => {
      expect(await reaching(fake, async () => { await client.get(session.token) })).toBe(1)
    }, { interval: 10 })
    // Within twice the heartbeat (staleMs), counted from the last ping (at most 50 ms before `since`).
    expect(performance.now() - since).toBeLessThan(400 + 100)
    expect(stats(client).streamConnected).toBe(false)
    // Nothing is kept while the stream is not current: the next call goes to the service too.
    expect(await reaching(fake, async () => { await client.get(session.token) })).toBe(1)

    fake.silence(false)
    await vi.waitFor(() => { expect(fake.connections.length).toBeGreaterThanOrEqual(2) })
    expect(fake.connections[1]['last-event-id']).toBe(String(seq))
    await connected(client)
    // The entry cached before the silence is answered again once the new connection has caught up.
    await vi.waitFor(async () => {
      expect(await reaching(fake, async () => { await client.get(session.token) })).toBe(0)
    })
  })

  it('after a cut stream: what it missed meanwhile is replayed and drops its session; the rest is served again', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    const [ended, kept] = [fake.add(), fake.add()]
    await client.get(ended.token)
    await client.get(kept.token)
    await received(client, fake.emit('created', kept))
    fake.drop()
    fake.sessions.delete(ended.token)
    const missed = fake.emit('revoked', ended, { reason: 'deleted' })
    await received(client, missed)
    expect(fake.connections[1]['last-event-id']).toBe(String(missed - 1))
    await vi.waitFor(async () => {
      expect(await reaching(fake, async () => { await client.get(kept.token) })).toBe(0)
    })
    await expect(client.get(ended.token)).rejects.toMatchObject({ code: 'token_not_found' })
  })

  it('after a cut, answers nothing from memory until the new connection has caught up (`: connected` comes after what it missed)', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    const [ended, kept] = [fake.add(), fake.add()]
    await client.get(ended.token)
    await client.get(kept.token)
    await received(client, fake.emit('created', kept))
    let release!: () => void
    fake.holdStreams = new Promise((resolve) => { release = resolve })
    fake.drop()
    fake.sessions.delete(ended.token)
    const missed = fake.emit('revoked', ended, { reason: 'deleted' })
    await vi.waitFor(() => { expect(fake.connections).toHaveLength(2) })
    // Connected again, but what was missed is not there yet: nothing from memory, nothing kept.
    expect(stats(client).streamConnected).toBe(false)
    expect(await reaching(fake, async () => { await client.get(kept.token); await client.get(kept.token) })).toBe(2)
    await expect(client.get(ended.token)).rejects.toMatchObject({ code: 'token_not_found' })
    fake.holdStreams = undefined
    release()
    await received(client, missed)
    await connected(client)
    expect(await reaching(fake, async () => { await client.get(kept.token) })).toBe(0)
    expect(stats(client).entries).toBe(1)
  })

  it('after a cut stream with no event received yet (nothing to resume from), drops everything', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    await client.get(fake.add().token)
    expect(stats(client).entries).toBe(1)
    fake.drop()
    await vi.waitFor(() => { expect(fake.connections).toHaveLength(2) })
    expect(fake.connections[1]['last-event-id']).toBeUndefined()
    await connected(client)
    expect(stats(client).entries).toBe(0)
  })

  it('goes to the service for every get while there is no stream (a service without /events), and keeps nothing', async () => {
    const fake = await service({ eventsStatus: 404 })
    const client = caching(fake)
    const session = fake.add()
    await vi.waitFor(() => { expect(fake.connections.length).toBeGreaterThanOrEqual(1) })
    expect(await reaching(fake, async () => {
      for (let i = 0; i < 3; i++) await client.get(session.token)
    })).toBe(3)
    expect(stats(client)).toMatchObject({ hits: 0, misses: 3, entries: 0, streamConnected: false })
  })

  it('answers from memory for ttlMs after the request was sent, then asks the service again', async () => {
    const fake = await service()
    const client = caching(fake, { ttlMs: 300 })
    await connected(client)
    const session = fake.add()
    const sent = performance.now()
    await client.get(session.token)
    expect(await reaching(fake, async () => { await client.get(session.token) })).toBe(0)
    await vi.waitFor(async () => {
      expect(await reaching(fake, async () => { await client.get(session.token) })).toBe(1)
    }, { interval: 20 })
    expect(performance.now() - sent).toBeGreaterThanOrEqual(300)
  })

  it('never answers from memory past the session\'s expires', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    const now = Math.floor(Date.now() / 1000)
    const due = fake.add({ expires: now })
    expect(await reaching(fake, async () => { await client.get(due.token); await client.get(due.token) })).toBe(2)
    const soon = fake.add({ expires: now + 1 })
    await client.get(soon.token)
    if (Date.now() < (now + 1) * 1000 - 50) expect(await reaching(fake, async () => { await client.get(soon.token) })).toBe(0)
    await vi.waitFor(async () => {
      expect(await reaching(fake, async () => { await client.get(soon.token) })).toBe(1)
    }, { timeout: 3000, interval: 20 })
    expect(Date.now()).toBeGreaterThanOrEqual((now + 1) * 1000)
  })

  it('holds at most max sessions, dropping the least recently used', async () => {
    const fake = await service()
    const client = caching(fake, { max: 2 })
    await connected(client)
    const [a, b, c] = [fake.add(), fake.add(), fake.add()]
    await client.get(a.token)
    await client.get(b.token)
    await client.get(a.token)
    await client.get(c.token)
    expect(stats(client).entries).toBe(2)
    expect(await reaching(fake, async () => { await client.get(a.token); await client.get(c.token) })).toBe(0)
    expect(await reaching(fake, async () => { await client.get(b.token) })).toBe(1)
  })

  it('get with ip or extra goes to the service (it writes), is not kept, and drops the session', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    const session = fake.add()
    await client.get(session.token)
    expect(await reaching(fake, async () => {
      expect(await client.get(session.token, { ip: '192.0.2.9' })).toMatchObject({ ip: '192.0.2.9' })
      await client.get(session.token, { extra: { k: 1 } })
    })).toBe(2)
    expect(stats(client).entries).toBe(0)
    expect(await client.get(session.token)).toMatchObject({ ip: '192.0.2.9' })
  })

  it('delete, deleteById, rotate, deleteUser and deleteIp through this client drop what they touch at once', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    const cases: Array<[string, (s: ReturnType<FakeService['add']>) => Promise<unknown>]> = [
      ['delete', async (s) => await client.delete(s.token)],
      ['deleteById', async (s) => await client.deleteById(s.id)],
      ['rotate', async (s) => await client.rotate(s.token)],
      ['deleteUser', async (s) => await client.deleteUser(s.user_id)],
      ['deleteIp', async (s) => await client.deleteIp(s.ip)]
    ]
    for (const [name, change] of cases) {
      const touched = fake.add({ user_id: 7, ip: '198.51.100.7' })
      const other = fake.add({ user_id: 8, ip: '198.51.100.8' })
      await client.get(touched.token)
      await client.get(other.token)
      const held = stats(client).entries
      await change(touched)
      expect(stats(client).entries, name).toBe(held - 1)
      expect(await reaching(fake, async () => { await client.get(other.token) }), name).toBe(0)
    }
  })

  it('a failed change drops its session as well (it may have been applied)', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    const session = fake.add()
    await client.get(session.token)
    fake.sessions.delete(session.token)
    await expect(client.delete(session.token)).rejects.toMatchObject({ code: 'token_not_found' })
    expect(stats(client).entries).toBe(0)
  })

  it('close() ends the stream for good; the client goes on without its cache', async () => {
    const fake = await service()
    const client = caching(fake)
    await connected(client)
    const session = fake.add()
    await client.get(session.token)
    await client.close()
    await vi.waitFor(() => { expect(fake.open()).toBe(0) })
    expect(stats(client)).toMatchObject({ entries: 0, streamConnected: false })
    expect(await reaching(fake, async () => { await client.get(session.token) })).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(fake.connections).toHaveLength(1)
    await client.close()
  })

  it('without a cache: no stream, no stats', async () => {
    const fake = await service()
    const client = new SessionsClient({ baseUrl: fake.baseUrl })
    expect(client.caching).toBe(false)
    expect(client.cacheStats()).toBeUndefined()
    await client.get(fake.add().token)
    expect(fake.connections).toHaveLength(0)
    await client.close()
  })

  it('refuses a cache without a positive ttlMs or max', () => {
    for (const cache of [{ ttlMs: 0, max: 10 }, { ttlMs: 1000, max: 0 }, { ttlMs: 1000, max: 1.5 }]) {
      expect(() => new SessionsClient({ baseUrl: 'http://127.0.0.1:1', cache })).toThrow(TypeError)
    }
  })
})
