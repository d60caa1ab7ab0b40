// GET /events through the front door, on the shared Tarantool (other test files write events too:
// each test looks at its own users' events only).
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SessionEvent } from '../../src/store/types.js'
import { apiError, buildApp, call, newSession, ok, SESSION_ID, uniqueIp, uniqueUserId } from '../support/app.js'
import { eventsOf, open } from '../support/sse.js'

async function page (app: FastifyInstance, query: string): Promise<{ data: SessionEvent[], next: number, reset?: boolean }> {
  const res = await call<{ data: SessionEvent[], next: number, reset?: boolean }>(app, { url: `/events?${query}` })
  expect(res.statusCode).toBe(200)
  return res.body as unknown as { data: SessionEvent[], next: number, reset?: boolean }
}

let app: FastifyInstance
let base: string
beforeAll(async () => {
  app = await buildApp()
  await app.listen({ port: 0, host: '127.0.0.1' })
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
})
afterAll(async () => { await app.close() })

describe('GET /events as a page', () => {
  it('answers every type where it happens, in order, with the session id and never a token', async () => {
    const user = uniqueUserId()
    const ip = uniqueIp()
    const a = await newSession(app, user, ip)
    const b = await newSession(app, user, ip)
    const c = await newSession(app, user, uniqueIp())
    await ok(app, { url: `/get?token=${a.token}` }) // marks use only: no event
    await ok(app, { url: `/get?token=${a.token}&ip=10.9.8.7` })
    const rotated = await ok(app, { url: `/rotate?token=${b.token}` })
    await ok(app, { url: `/del?token=${a.token}` })
    await ok(app, { url: `/del_user?id=${user}&except=${rotated.token}` })
    await ok(app, { url: `/del_ip?ip=${ip}` })
    const { data } = await page(app, `after=0&limit=1000&user_id=${user}`)
    expect(data.map((e) => [e.type, e.reason, e.id])).toEqual([
      ['created', undefined, a.id], ['created', undefined, b.id], ['created', undefined, c.id],
      ['updated', undefined, a.id],
      ['rotated', undefined, b.id],
      ['revoked', 'deleted', a.id],
      ['revoked', 'signed_out', c.id],
      ['revoked', 'ip_signed_out', b.id]
    ])
    expect(data[3].ip).toBe('10.9.8.7')
    for (const e of data) {
      expect(e.id).toMatch(SESSION_ID)
      expect(e.user_id).toBe(user)
      expect(e.time).toBeGreaterThan(Date.now() / 1000 - 60)
    }
    const text = JSON.stringify(data)
    for (const token of [a.token, b.token, c.token, rotated.token]) {
      expect(text.toLowerCase()).not.toContain(token.toLowerCase())
      expect(text.toLowerCase()).not.toContain(token.replaceAll('-', '').toLowerCase())
    }
    // seq increasing, and `next` the last of the page.
    const seqs = data.map((e) => e.seq)
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs)
    const { data: after, next } = await page(app, `after=${seqs[4]}&limit=2&user_id=${user}`)
    expect(after.map((e) => e.seq)).toEqual(seqs.slice(5, 7))
    expect(next).toBe(seqs[6])
  })

  it('names the session a per-user limit evicts', async () => {
    const limited = await buildApp({ env: { MAX_SESSIONS_PER_USER: '1' } })
    try {
      const user = uniqueUserId()
      const first = await newSession(limited, user)
      const second = await newSession(limited, user)
      const { data } = await page(limited, `after=0&user_id=${user}`)
      expect(data.map((e) => [e.type, e.reason, e.id])).toEqual([
        ['created', undefined, first.id], ['revoked', 'evicted', first.id], ['created', undefined, second.id]
      ])
    } finally {
      await limited.close()
    }
  })

  it('refuses a malformed after, limit or user_id in the envelope', async () => {
    for (const [query, code] of [['after=-1', 'invalid_event_id'], ['after=1e3', 'invalid_event_id'], ['after=99999999999999999', 'invalid_event_id'],
      ['limit=0', 'invalid_limit'], ['limit=1001', 'invalid_limit'], ['user_id=x', 'invalid_user_id']]) {
      const res = await call(app, { url: `/events?${query}` })
      expect(res.statusCode, query).toBe(400)
      expect(res.body, query).toEqual(apiError(code))
    }
  })

  it('says reset for an id this Tarantool never gave', async () => {
    const { newest } = await app.store.eventsPage(0, 1)
    const body = await page(app, `after=${newest + 1_000_000}`)
    expect(body.reset).toBe(true)
    expect(body.data).toEqual([])
  })
})

describe('GET /events as a stream', () => {
  it('sends what happens from now, in order, each event once, and a comment at least every 5 s', async () => {
    const user = uniqueUserId()
    const stream = await open(base)
    try {
      expect(stream.status).toBe(200)
      await stream.until((f) => f.some((x) => x.comment === 'connected'))
      const s = await newSession(app, user)
      await ok(app, { url: `/del?token=${s.token}` })
      await stream.until((f) => eventsOf(f, [user]).length === 2)
      const events = eventsOf(stream.frames, [user])
      expect(events.map((e) => [e.type, e.id])).toEqual([['created', s.id], ['revoked', s.id]])
      const frames = stream.frames.filter((f) => f.data !== undefined && (JSON.parse(f.data) as SessionEvent).user_id === user)
      expect(frames.map((f) => f.event)).toEqual(['created', 'revoked'])
      expect(frames.map((f) => Number(f.id))).toEqual(events.map((e) => e.seq))
      const pings = stream.frames.filter((f) => f.comment === 'ping').length
      await stream.until((f) => f.filter((x) => x.comment === 'ping').length > pings, 5000)
    } finally {
      stream.close()
    }
  }, 15_000)

  it('resumes right after Last-Event-ID (header or query), from memory or from Tarantool, across a restart of the service', async () => {
    const user = uniqueUserId()
    const first = await newSession(app, user)
    const { data } = await page(app, `after=0&user_id=${user}`)
    const from = data[0].seq
    // Events while no stream of this process listens, then on another process (a restart).
    const second = await newSession(app, user)
    await ok(app, { url: `/del?token=${first.token}` })
    const other = await buildApp()
    await other.listen({ port: 0, host: '127.0.0.1' })
    const otherBase = `http://127.0.0.1:${(other.server.address() as { port: number }).port}`
    try {
      const stream = await open(otherBase, { 'last-event-id': String(from) })
      const expected = [['created', second.id], ['revoked', first.id], ['revoked', second.id]]
      try {
        await stream.until((f) => eventsOf(f, [user]).length >= 2)
        await ok(app, { url: `/del?token=${second.token}` })
        await stream.until((f) => eventsOf(f, [user]).length >= 3)
        const events = eventsOf(stream.frames, [user])
        expect(events.map((e) => [e.type, e.id])).toEqual(expected)
        expect(stream.frames.some((f) => f.event === 'reset')).toBe(false)
      } finally {
        stream.close()
      }
      // The query form, for clients that cannot set the header: the same three.
      const byQuery = await open(otherBase, {}, `?last_event_id=${from}`)
      try {
        await byQuery.until((f) => eventsOf(f, [user]).length >= 3)
        expect(eventsOf(byQuery.frames, [user]).map((e) => [e.type, e.id])).toEqual(expected)
      } finally {
        byQuery.close()
      }
    } finally {
      await other.close()
    }
  }, 20_000)

  it('sends a sign-out\'s many events in order, each once', async () => {
    const user = uniqueUserId()
    const sessions = []
    for (let i = 0; i < 50; i++) sessions.push(await newSession(app, user))
    const stream = await open(base)
    try {
      await stream.until((f) => f.some((x) => x.comment === 'connected'))
      expect(await ok(app, { url: `/del_user?id=${user}` })).toEqual({ deleted: 50 })
      await stream.until((f) => eventsOf(f, [user]).length >= 50)
      const events = eventsOf(stream.frames, [user])
      expect(events.map((e) => [e.type, e.reason])).toEqual(sessions.map(() => ['revoked', 'signed_out']))
      expect(new Set(events.map((e) => e.id))).toEqual(new Set(sessions.map((s) => s.id)))
      expect(events.map((e) => e.seq)).toEqual(events.map((e) => e.seq).sort((a, b) => a - b))
    } finally {
      stream.close()
    }
  })

  it('sends reset first for an id it does not know, then goes on', async () => {
    const { newest } = await app.store.eventsPage(0, 1)
    const stream = await open(base, { 'last-event-id': String(newest + 1_000_000) })
    try {
      await stream.until((f) => f.some((x) => x.event === 'reset'))
      const user = uniqueUserId()
      const s = await newSession(app, user)
      await stream.until((f) => eventsOf(f, [user]).length === 1)
      expect(eventsOf(stream.frames, [user])[0].id).toBe(s.id)
    } finally {
      stream.close()
    }
  })

  it('refuses a malformed Last-Event-ID with 400 in the envelope', async () => {
    const res = await fetch(`${base}/events`, { headers: { accept: 'text/event-stream', 'last-event-id': 'abc' } })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual(apiError('invalid_event_id'))
  })

  it('ends its streams when the app closes', async () => {
    const other = await buildApp()
    await other.listen({ port: 0, host: '127.0.0.1' })
    const stream = await open(`http://127.0.0.1:${(other.server.address() as { port: number }).port}`)
    await stream.until((f) => f.some((x) => x.comment === 'connected'))
    const started = Date.now()
    await other.close()
    expect(Date.now() - started).toBeLessThan(3000)
    stream.close()
  })
})
