// A Tarantool whose memory is full refuses writes: the service says 503, not 500, and reads go on.
// On an instance of its own, filled on purpose.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiError, buildApp, call, newSession, ok } from '../support/app.js'
import { startTarantool, type TestTarantool } from '../support/tarantool.js'

let tarantool: TestTarantool
let app: FastifyInstance
beforeAll(async () => {
  // The smallest memtx_memory Tarantool takes: about 2,000 sessions of 7 KB fill it.
  tarantool = await startTarantool({ TARANTOOL_MEMTX_MEMORY: String(32 * 1024 * 1024) })
  app = await buildApp({ uri: tarantool.uri })
})
afterAll(async () => {
  await app?.close()
  await tarantool?.stop()
})

describe('a full Tarantool', () => {
  it('answers 503 storage_unavailable to writes and still serves reads', async () => {
    const first = await newSession(app, 7, '192.0.2.7')
    const extra = { blob: 'x'.repeat(7000) }
    let refused: Awaited<ReturnType<typeof call>> | undefined
    for (let i = 0; i < 10_000 && refused === undefined; i++) {
      const res = await call(app, { method: 'POST', url: '/new?user_id=8&ip=192.0.2.8', payload: extra })
      if (res.statusCode !== 200) refused = res
    }
    expect(refused).toEqual({ statusCode: 503, body: apiError('storage_unavailable') })
    // /user only reads. /get changes nothing but the activity, which it takes as a mark of use
    // and leaves to a later flush (tarantool/sessions/activity.lua): no write of its own, so it is
    // served too, with this second's activity.
    expect(await ok(app, { url: '/user?id=7' })).toEqual([first])
    const before = Math.floor(Date.now() / 1000)
    const got = await call(app, { url: `/get?token=${first.token}` })
    const after = Math.floor(Date.now() / 1000)
    expect(got).toEqual({ statusCode: 200, body: { status: 'success', data: { ...first, activity: expect.any(Number), expires: expect.any(Number) } } })
    const { activity } = (got.body as { data: { activity: number } }).data
    expect(activity).toBeGreaterThanOrEqual(before)
    expect(activity).toBeLessThanOrEqual(after)
  })
})
