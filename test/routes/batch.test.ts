// /get and /new requests that arrive together go to Tarantool in one call (sessions.get_many,
// sessions.new_many; the /new ones in one transaction): each answered as if alone, one that raised
// there rolled back alone and sent again alone, and a Tarantool without the procedure (older Lua)
// asked one call each.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectConsole, type AdminConsole } from '../../lib/admin-console.js'
import { buildApp, call, newSession, uniqueIp, uniqueUserId } from '../support/app.js'
import { missing } from '../support/programs.js'
import { startTarantool, TARANTOOL_BIN, type TestTarantool } from '../support/tarantool.js'

/** How many calls of each procedure ended well, from /metrics. */
async function calls (app: FastifyInstance): Promise<Record<string, number>> {
  const body = (await app.inject({ url: '/metrics' })).body
  const out: Record<string, number> = {}
  for (const match of body.matchAll(/^tarantool_call_duration_seconds_count\{procedure="([^"]+)",outcome="ok"\} (\d+)$/gm)) {
    out[match[1]] = Number(match[2])
  }
  return out
}

/** The data of a success envelope. */
const dataOf = (reply: { body: unknown }): unknown => (reply.body as { data?: unknown }).data

async function callsDuring (app: FastifyInstance, fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = await calls(app)
  await fn()
  const after = await calls(app)
  const moved: Record<string, number> = {}
  for (const [name, n] of Object.entries(after)) if (n !== (before[name] ?? 0)) moved[name] = n - (before[name] ?? 0)
  // The scrape's own stats call.
  delete moved['sessions.stats']
  return moved
}

/** The events of one user, oldest first, from the JSON page of /events. */
async function eventsOf (app: FastifyInstance, userId: number): Promise<Array<{ type: string, id: string, reason?: string }>> {
  return dataOf(await call(app, { url: `/events?after=0&limit=1000&user_id=${userId}` })) as Array<{ type: string, id: string, reason?: string }>
}

// A Tarantool of their own: they patch procedures and drop the batch forms.
describe.skipIf(missing('tarantool', TARANTOOL_BIN))('requests that arrive together', () => {
  let tarantool: TestTarantool
  let app: FastifyInstance
  let admin: AdminConsole
  beforeAll(async () => {
    tarantool = await startTarantool()
    app = await buildApp({ uri: tarantool.uri })
    admin = await connectConsole(tarantool.console!)
    // Its first call reads the key of session ids.
    await newSession(app)
  })
  afterAll(async () => {
    admin?.close()
    await app?.close()
    await tarantool?.stop()
  })

  describe('/get', () => {
    it('are looked up in one call, each answered as alone: found, not found, a new ip', async () => {
      const sessions = await Promise.all(Array.from({ length: 40 }, async () => await newSession(app, uniqueUserId())))
      const newIp = uniqueIp()
      const requests = [
        ...sessions.map((s) => ({ url: `/get?token=${s.token}` })),
        { url: '/get?token=7b2c4c2e-2a6d-4d1c-9a4f-0f1f2e3d4c5b' },
        { url: `/get?token=${sessions[0].token}&ip=${newIp}` }
      ]
      let replies!: Awaited<ReturnType<typeof call>>[]
      const moved = await callsDuring(app, async () => { replies = await Promise.all(requests.map(async (r) => await call(app, r))) })
      expect(moved).toEqual({ 'sessions.get_many': 1 })
      for (let i = 0; i < sessions.length; i++) {
        expect(replies[i].statusCode).toBe(200)
        expect(dataOf(replies[i])).toMatchObject({ id: sessions[i].id, token: sessions[i].token, user_id: sessions[i].user_id })
      }
      expect(replies[40].body).toMatchObject({ status: 'error', code: 'token_not_found' })
      expect(dataOf(replies[41])).toMatchObject({ id: sessions[0].id, ip: newIp })
      // What it wrote is stored.
      expect(dataOf(await call(app, { url: `/get?token=${sessions[0].token}` }))).toMatchObject({ ip: newIp })
    })

    it('with extra data too: merged, or too large', async () => {
      const sessions = await Promise.all(Array.from({ length: 3 }, async () => await newSession(app, uniqueUserId())))
      const replies = await Promise.all([
        call(app, { url: `/get?token=${sessions[0].token}`, payload: { theme: 'dark' } }),
        call(app, { url: `/get?token=${sessions[1].token}`, payload: { n: 1 } }),
        call(app, { url: `/get?token=${sessions[2].token}`, payload: { big: 'x'.repeat(20_000) } })
      ])
      expect(dataOf(replies[0])).toMatchObject({ id: sessions[0].id, extra: { theme: 'dark' } })
      expect(dataOf(replies[1])).toMatchObject({ id: sessions[1].id, extra: { n: 1 } })
      expect(replies[2].body).toMatchObject({ status: 'error', code: 'payload_too_large' })
    })

    it('sends one that raised in the batch again alone, and answers the others', async () => {
      const sessions = await Promise.all(Array.from({ length: 5 }, async () => await newSession(app, uniqueUserId())))
      // The next lookup of this token raises once, as a write refused would.
      await admin.eval(`
      local api = require('sessions.api').procedures
      local uuid = require('uuid')
      local get, victim = api.get, uuid.fromstr('${sessions[3].token}')
      api.get = function(token, ...)
        if token == victim then api.get = get error('refused for the test') end
        return get(token, ...)
      end
      return true`)
      let replies!: Awaited<ReturnType<typeof call>>[]
      const moved = await callsDuring(app, async () => { replies = await Promise.all(sessions.map(async (s) => await call(app, { url: `/get?token=${s.token}` }))) })
      expect(moved).toEqual({ 'sessions.get_many': 1, 'sessions.get': 1 })
      expect(replies.map((r) => (dataOf(r) as { id: string }).id)).toEqual(sessions.map((s) => s.id))
    })

    it('are asked one call each of a Tarantool without sessions.get_many (Lua older than the service)', async () => {
      const sessions = await Promise.all(Array.from({ length: 5 }, async () => await newSession(app, uniqueUserId())))
      await admin.eval("box.schema.func.drop('sessions.get_many') return true")
      let replies!: Awaited<ReturnType<typeof call>>[]
      const moved = await callsDuring(app, async () => { replies = await Promise.all(sessions.map(async (s) => await call(app, { url: `/get?token=${s.token}` }))) })
      expect(moved).toEqual({ 'sessions.get': 5 })
      expect(replies.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200])
      // And from then on, one call each without trying it again.
      const again = await callsDuring(app, async () => { await Promise.all(sessions.map(async (s) => await call(app, { url: `/get?token=${s.token}` }))) })
      expect(again).toEqual({ 'sessions.get': 5 })
    })
  })

  describe('/new', () => {
    it('are written in one call, each answered as alone, each with its created event', async () => {
      const users = Array.from({ length: 30 }, () => uniqueUserId())
      const ip = uniqueIp()
      let replies!: Awaited<ReturnType<typeof call>>[]
      const moved = await callsDuring(app, async () => {
        replies = await Promise.all(users.map(async (u, i) => await call(app, { url: `/new?user_id=${u}&ip=${ip}`, payload: { n: i } })))
      })
      expect(moved).toEqual({ 'sessions.new_many': 1 })
      const made = replies.map((r) => dataOf(r) as { id: string, token: string, user_id: number, extra: unknown })
      made.forEach((s, i) => { expect(s).toMatchObject({ user_id: users[i], ip, extra: { n: i } }) })
      expect(new Set(made.map((s) => s.token)).size).toBe(30)
      // Each is stored, and has its event.
      for (const s of made) {
        expect(dataOf(await call(app, { url: `/get?token=${s.token}` }))).toMatchObject({ id: s.id, user_id: s.user_id })
        expect(await eventsOf(app, s.user_id)).toEqual([expect.objectContaining({ type: 'created', id: s.id })])
      }
    })

    it('each sees the sessions made before it in the batch: a limit per user holds within one', async () => {
      const limited = await buildApp({ uri: tarantool.uri, env: { MAX_SESSIONS_PER_USER: '2' } })
      try {
      // Its first call reads the key of session ids.
        await newSession(limited)
        const user = uniqueUserId()
        let replies!: Awaited<ReturnType<typeof call>>[]
        const moved = await callsDuring(limited, async () => {
          replies = await Promise.all(Array.from({ length: 5 }, async () => await call(limited, { url: `/new?user_id=${user}&ip=${uniqueIp()}` })))
        })
        expect(moved).toEqual({ 'sessions.new_many': 1 })
        expect(replies.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200])
        const made = replies.map((r) => (dataOf(r) as { id: string }).id)
        // Two remain, the last made among them (the earlier ones, all used in the same second, go in
        // the order of their keys); each of the other three was evicted by one made after it.
        const listed = (dataOf(await call(limited, { url: `/user?id=${user}` })) as Array<{ id: string }>).map((s) => s.id)
        expect(listed).toHaveLength(2)
        expect(listed).toContain(made[4])
        const events = await eventsOf(limited, user)
        expect(events.filter((e) => e.type === 'created').map((e) => e.id)).toEqual(made)
        const revoked = events.filter((e) => e.type === 'revoked')
        expect(revoked.map((e) => e.reason)).toEqual(['evicted', 'evicted', 'evicted'])
        expect(revoked.map((e) => e.id).sort()).toEqual(made.filter((id) => !listed.includes(id)).sort())
      } finally {
        await limited.close()
      }
    })

    it('roll back one that raised in the batch alone, send it again alone, and answer the others', async () => {
      const users = Array.from({ length: 5 }, () => uniqueUserId())
      // The next /new of this user raises once after writing its session and event, as a write
      // refused midway would: the batch must roll back both.
      await admin.eval(`
      local api = require('sessions.api').procedures
      local new, victim = api.new, ${users[2]}ULL
      api.new = function(token, user_id, ...)
        local t, err, fields = new(token, user_id, ...)
        if user_id == victim then api.new = new error('refused for the test') end
        return t, err, fields
      end
      return true`)
      let replies!: Awaited<ReturnType<typeof call>>[]
      const moved = await callsDuring(app, async () => {
        replies = await Promise.all(users.map(async (u) => await call(app, { url: `/new?user_id=${u}&ip=${uniqueIp()}` })))
      })
      expect(moved).toEqual({ 'sessions.new_many': 1, 'sessions.new': 1 })
      const made = replies.map((r) => dataOf(r) as { id: string, user_id: number })
      expect(made.map((s) => s.user_id)).toEqual(users)
      for (const s of made) {
      // One session and one event each: the victim's first write is gone, its second is kept.
        expect(await eventsOf(app, s.user_id)).toEqual([expect.objectContaining({ type: 'created', id: s.id })])
        expect((dataOf(await call(app, { url: `/user?id=${s.user_id}` })) as unknown[]).length).toBe(1)
      }
    })

    it('fail together when their transaction is lost (a call that yields), and the next ones are written as usual', async () => {
      const users = Array.from({ length: 4 }, () => uniqueUserId())
      // A yield aborts a memtx transaction: what a bug in a procedure would do.
      await admin.eval(`
        local api = require('sessions.api').procedures
        local fiber = require('fiber')
        local new, victim = api.new, ${users[1]}ULL
        api.new = function(token, user_id, ...)
          if user_id == victim then api.new = new fiber.yield() end
          return new(token, user_id, ...)
        end
        return true`)
      const failed = await Promise.all(users.map(async (u) => await call(app, { url: `/new?user_id=${u}&ip=${uniqueIp()}` })))
      expect(failed.map((r) => r.statusCode >= 500)).toEqual([true, true, true, true])
      for (const u of users) {
        expect(await eventsOf(app, u)).toEqual([])
        expect(dataOf(await call(app, { url: `/user?id=${u}` }))).toEqual([])
      }
      // The next ones: each in the batch's transaction again, with its event.
      const replies = await Promise.all(users.map(async (u) => await call(app, { url: `/new?user_id=${u}&ip=${uniqueIp()}` })))
      const made = replies.map((r) => dataOf(r) as { id: string, token: string })
      for (const [i, s] of made.entries()) {
        expect(await eventsOf(app, users[i])).toEqual([expect.objectContaining({ type: 'created', id: s.id })])
      }
      // And a change outside a batch is its own transaction again: its event is committed, and read.
      expect((await call(app, { url: `/del?token=${made[0].token}` })).statusCode).toBe(200)
      expect((await eventsOf(app, users[0])).map((e) => e.type)).toEqual(['created', 'revoked'])
    })

    it('are sent one call each to a Tarantool without sessions.new_many (Lua older than the service)', async () => {
      await admin.eval("box.schema.func.drop('sessions.new_many') return true")
      const users = Array.from({ length: 4 }, () => uniqueUserId())
      let replies!: Awaited<ReturnType<typeof call>>[]
      const moved = await callsDuring(app, async () => {
        replies = await Promise.all(users.map(async (u) => await call(app, { url: `/new?user_id=${u}&ip=${uniqueIp()}` })))
      })
      expect(moved).toEqual({ 'sessions.new': 4 })
      expect(replies.map((r) => r.statusCode)).toEqual([200, 200, 200, 200])
    })
  })
})
