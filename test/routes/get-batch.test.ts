// /get requests that arrive together are looked up in one call of Tarantool (sessions.get_many):
// each answered as if alone, one that raised there sent again alone, and a Tarantool without the
// procedure (older Lua) asked one call each.
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

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('/get requests that arrive together', () => {
  let tarantool: TestTarantool
  let app: FastifyInstance
  let admin: AdminConsole
  beforeAll(async () => {
    tarantool = await startTarantool()
    app = await buildApp({ uri: tarantool.uri })
    admin = await connectConsole(tarantool.console!)
  })
  afterAll(async () => {
    admin?.close()
    await app?.close()
    await tarantool?.stop()
  })

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
