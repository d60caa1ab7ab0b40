// The caching client through the front door: the real service on the shared Tarantool, its
// GET /events as it is. Changes are made through a second, plain client, as another backend would.
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { SessionsClient, type CacheStats, type FetchLike, type SessionWithToken } from '../../client/src/index.js'
import { SseParser } from '../../client/src/event-stream.js'
import { buildApp, uniqueIp, uniqueUserId } from '../support/app.js'
import { serveApp, type ServedApp } from '../support/client.js'

let served: ServedApp
let plain: SessionsClient
beforeAll(async () => {
  served = await serveApp()
  plain = new SessionsClient({ baseUrl: served.baseUrl })
})
afterAll(async () => { await served.app.close() })

const closing: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close()
})

interface Recorded {
  client: SessionsClient
  /** Each request as `METHOD /path?query`, and the headers of each /events request. */
  sent: string[]
  streams: Array<Record<string, string>>
  /** While set, an answer of /get, already read by the service, is handed over only once this settles. */
  hold?: Promise<void>
  /** Answers of /get the service has given so far. */
  answered: number
}

/** A caching client whose requests are recorded, closed after the test. */
function caching (baseUrl = served.baseUrl): Recorded {
  const recorded = { sent: [], streams: [], answered: 0 } as unknown as Recorded
  const fetch: FetchLike = async (url, init) => {
    const { pathname, search } = new URL(url)
    recorded.sent.push(`${init.method} ${pathname}${search}`)
    if (pathname === '/events') recorded.streams.push(init.headers)
    const res = await globalThis.fetch(url, init)
    if (pathname !== '/get') return res
    const hold = recorded.hold
    const text = await res.text()
    recorded.answered++
    await hold
    return { status: res.status, text: async () => text }
  }
  recorded.client = new SessionsClient({ baseUrl, fetch, cache: { ttlMs: 60_000, max: 1000 } })
  closing.push(async () => { await recorded.client.close() })
  return recorded
}

const stats = (client: SessionsClient): CacheStats => client.cacheStats()!
const gets = (recorded: Recorded): number => recorded.sent.filter((r) => r.startsWith('GET /get?')).length

async function connected (client: SessionsClient): Promise<void> {
  await vi.waitFor(() => { expect(stats(client).streamConnected).toBe(true) }, { timeout: 5000 })
}

/** The seq of the newest event of this user's session of this type, from the JSON form of /events. */
async function seqOf (userId: number, type: string, id: string): Promise<number> {
  const res = await fetch(`${served.baseUrl}/events?after=0&limit=1000&user_id=${userId}`)
  const { data } = await res.json() as { data: Array<{ seq: number, type: string, id: string }> }
  const event = data.findLast((e) => e.type === type && e.id === id)
  if (event === undefined) throw new Error(`no ${type} event for the session`)
  return event.seq
}

describe('SessionsClient with a cache, against the service', () => {
  it('answers from memory, and fails within a second of any change through another client (del, del_user, del_ip, rotate, an ip change)', async () => {
    const recorded = caching()
    const { client } = recorded
    await connected(client)
    const changes: Array<[string, (s: SessionWithToken) => Promise<unknown>]> = [
      ['/del', async (s) => await plain.delete(s.token)],
      ['/del by id', async (s) => await plain.deleteById(s.id)],
      ['/del_user', async (s) => await plain.deleteUser(s.user_id)],
      ['/del_ip', async (s) => await plain.deleteIp(s.ip)],
      ['/rotate', async (s) => await plain.rotate(s.token)],
      ['/get with an ip', async (s) => await plain.get(s.token, { ip: '192.0.2.77' })]
    ]
    for (const [name, change] of changes) {
      const session = await plain.create(uniqueUserId(), uniqueIp())
      await client.get(session.token)
      const before = gets(recorded)
      expect((await client.get(session.token)).id, name).toBe(session.id)
      expect(gets(recorded), name).toBe(before)

      await change(session)
      const acknowledged = performance.now()
      await vi.waitFor(async () => {
        const now = await client.get(session.token).then((s) => s.ip, (err: { code?: string }) => err.code)
        expect(now, name).toBe(name === '/get with an ip' ? '192.0.2.77' : 'token_not_found')
      }, { timeout: 2000, interval: 5 })
      expect(performance.now() - acknowledged, name).toBeLessThan(1000)
    }
  })

  it('never keeps an answer the service gave before a revocation the stream delivered first', async () => {
    const recorded = caching()
    const { client } = recorded
    await connected(client)
    const session = await plain.create(uniqueUserId(), uniqueIp())
    let release!: () => void
    recorded.hold = new Promise((resolve) => { release = resolve })
    const pending = client.get(session.token)
    await vi.waitFor(() => { expect(recorded.answered).toBe(1) })
    await plain.delete(session.token)
    const revoked = await seqOf(session.user_id, 'revoked', session.id)
    await vi.waitFor(() => { expect(stats(client).lastEventSeq).toBeGreaterThanOrEqual(revoked) })
    recorded.hold = undefined
    release()
    expect((await pending).id).toBe(session.id)
    expect(stats(client).entries).toBe(0)
    await expect(client.get(session.token)).rejects.toMatchObject({ code: 'token_not_found' })
  })

  it('across a restart of the service: resumes with Last-Event-ID, drops what ended meanwhile, serves the rest again', { timeout: 30_000 }, async () => {
    let app: FastifyInstance = await buildApp()
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as AddressInfo).port
    closing.push(async () => { await app.close() })
    const recorded = caching(`http://127.0.0.1:${port}`)
    const { client } = recorded
    await connected(client)
    const [ended, kept] = [await plain.create(uniqueUserId(), uniqueIp()), await plain.create(uniqueUserId(), uniqueIp())]
    await client.get(ended.token)
    await client.get(kept.token)
    const created = await seqOf(kept.user_id, 'created', kept.id)
    await vi.waitFor(() => { expect(stats(client).lastEventSeq).toBeGreaterThanOrEqual(created) })

    await app.close()
    await vi.waitFor(() => { expect(stats(client).streamConnected).toBe(false) })
    const resumeFrom = stats(client).lastEventSeq
    await plain.delete(ended.token)
    const streams = recorded.streams.length
    app = await buildApp()
    await app.listen({ port, host: '127.0.0.1' })
    await connected(client)

    expect(recorded.streams.length).toBeGreaterThan(streams)
    expect(recorded.streams.at(-1)!['last-event-id']).toBe(String(resumeFrom))
    await expect(client.get(ended.token)).rejects.toMatchObject({ code: 'token_not_found' })
    const before = gets(recorded)
    expect((await client.get(kept.token)).id).toBe(kept.id)
    expect(gets(recorded)).toBe(before)
  })

  it('(what the client counts on) the stream writes `: connected` after the events a resumed stream missed', async () => {
    const userId = uniqueUserId()
    const session = await plain.create(userId, uniqueIp())
    await plain.delete(session.token)
    const from = await seqOf(userId, 'created', session.id) - 1
    const seen: string[] = []
    const abort = new AbortController()
    const res = await fetch(`${served.baseUrl}/events`, { headers: { accept: 'text/event-stream', 'last-event-id': String(from) }, signal: abort.signal })
    const parser = new SseParser((event) => {
      if ((JSON.parse(event.data) as { user_id?: number }).user_id === userId) seen.push(event.type)
    }, (text) => { if (text === 'connected') seen.push(':connected') })
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        parser.push(chunk)
        if (seen.includes(':connected')) break
      }
    } finally {
      abort.abort()
    }
    expect(seen).toEqual(['created', 'revoked', ':connected'])
  })
})
