// /metrics in Prometheus text: scraped before and after traffic, the numbers move as they should.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildApp, newSession, ok, uniqueUserId } from '../support/app.js'
import { startTarantool, TARANTOOL_BIN, type TestTarantool } from '../support/tarantool.js'
import { missing } from '../support/programs.js'

/** Parses the text format into `name{labels}` -> value (labels as Prometheus prints them). */
async function scrape (app: FastifyInstance): Promise<Map<string, number>> {
  const res = await app.inject({ url: '/metrics' })
  expect(res.statusCode).toBe(200)
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
  const values = new Map<string, number>()
  for (const line of res.body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    values.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return values
}

const moved = (before: Map<string, number>, after: Map<string, number>, key: string): number =>
  (after.get(key) ?? 0) - (before.get(key) ?? 0)

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('metrics', () => {
  let tarantool: TestTarantool
  let app: FastifyInstance
  beforeAll(async () => {
    // Sessions expire after 1 s and are swept every second. The Tarantool timeout is buildApp's
    // generous one: nothing here is about it (a killed Tarantool fails calls when its connection
    // drops, not when they time out).
    tarantool = await startTarantool()
    app = await buildApp({ uri: tarantool.uri, env: { SESSION_TTL_SECONDS: '1', SWEEP_INTERVAL_SECONDS: '1' } })
  })
  afterAll(async () => {
    await app?.close()
    await tarantool?.stop()
  })

  it('counts requests per route and status, with latency, and sessions created and deleted', async () => {
    const before = await scrape(app)
    const userId = uniqueUserId()
    const sessions = [await newSession(app, userId), await newSession(app, userId), await newSession(app, userId)]
    await app.inject({ url: `/del?token=${sessions[0].token}` })
    await app.inject({ url: '/new?user_id=x&ip=127.0.0.1' })
    await app.inject({ url: '/no/such/path' })
    await app.inject({ method: 'POST', url: `/user?id=${userId}` })
    const after = await scrape(app)

    expect(moved(before, after, 'http_requests_total{method="GET",route="/new",status="200"}')).toBe(3)
    expect(moved(before, after, 'http_requests_total{method="GET",route="/new",status="400"}')).toBe(1)
    expect(moved(before, after, 'http_requests_total{method="GET",route="/del",status="200"}')).toBe(1)
    expect(moved(before, after, 'http_requests_total{method="POST",route="/user",status="200"}')).toBe(1)
    expect(moved(before, after, 'http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1)
    expect(moved(before, after, 'http_request_duration_seconds_count{method="GET",route="/new",status="200"}')).toBe(3)
    expect(moved(before, after, 'http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/new",status="200"}')).toBe(3)
    expect(moved(before, after, 'http_request_duration_seconds_sum{method="GET",route="/new",status="200"}')).toBeGreaterThan(0)
    expect(moved(before, after, 'sessions_created_total')).toBe(3)
    expect(moved(before, after, 'sessions_deleted_total')).toBe(1)
    expect(after.get('sessions_stored')).toBeGreaterThanOrEqual(2)
    expect(after.get('tarantool_up')).toBe(1)
    expect(after.get('tarantool_connection_state{state="connected"}')).toBe(1)
    expect(after.get('process_resident_memory_bytes')).toBeGreaterThan(0)
    // Tarantool calls: the three /new, the /del, the /user, and the scrape's own stats call.
    expect(moved(before, after, 'tarantool_call_duration_seconds_count{procedure="sessions.new",outcome="ok"}')).toBe(3)
    expect(moved(before, after, 'tarantool_call_duration_seconds_count{procedure="sessions.del",outcome="ok"}')).toBe(1)
    expect(moved(before, after, 'tarantool_call_duration_seconds_count{procedure="sessions.by_user",outcome="ok"}')).toBe(1)
    expect(moved(before, after, 'tarantool_call_duration_seconds_count{procedure="sessions.stats",outcome="ok"}')).toBe(1)
  })

  it('follows the expiry sweep', async () => {
    const before = await scrape(app)
    const userId = uniqueUserId()
    for (let i = 0; i < 5; i++) await newSession(app, userId)
    await vi.waitFor(async () => {
      const after = await scrape(app)
      expect(moved(before, after, 'sessions_expired_total')).toBeGreaterThanOrEqual(5)
      expect(moved(before, after, 'sessions_sweep_batches_total')).toBeGreaterThanOrEqual(1)
      expect(moved(before, after, 'sessions_sweep_passes_total')).toBeGreaterThanOrEqual(1)
      expect(after.get('sessions_sweep_last_duration_seconds')).toBeGreaterThanOrEqual(0)
      expect(after.get('sessions_stored')).toBe(0)
    }, { timeout: 10_000, interval: 250 })
  })

  it('counts new activity taken by /get, and written after', async () => {
    const before = await scrape(app)
    // Again with a new session if the test process stalled past the next second: expired then,
    // the session answers 404 and marks nothing.
    await vi.waitFor(async () => {
      // A ttl of its own: under the TTL setting (1 s) a session is gone when its second ends.
      const session = await ok(app, { url: `/new?user_id=${uniqueUserId()}&ip=10.0.0.1&ttl=5` })
      // Used in the second after its creation, its activity changes.
      // Counted from Tarantool's `create`: that second may have ended before /new answered.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, (session.create + 1) * 1000 + 20 - Date.now())))
      expect((await app.inject({ url: `/get?token=${session.token}` })).statusCode).toBe(200)
    }, { timeout: 10_000, interval: 10 })
    await vi.waitFor(async () => {
      const after = await scrape(app)
      expect(moved(before, after, 'sessions_activity_marked_total')).toBe(1)
      expect(moved(before, after, 'sessions_activity_written_total')).toBe(1)
    }, { timeout: 5000, interval: 100 })
  })

  it('still answers while Tarantool is away, and says so', async () => {
    tarantool.signal!('SIGKILL')
    try {
      await vi.waitFor(async () => {
        const during = await scrape(app)
        expect(during.get('tarantool_up')).toBe(0)
        expect(during.get('tarantool_connection_state{state="connected"}')).toBe(0)
        expect(during.get('tarantool_disconnects_total')).toBeGreaterThanOrEqual(1)
        expect(during.get('tarantool_call_duration_seconds_count{procedure="sessions.stats",outcome="unavailable"}')).toBeGreaterThanOrEqual(1)
      }, { timeout: 5000, interval: 100 })
    } finally {
      await tarantool.restart!()
    }
    await vi.waitFor(async () => { expect((await scrape(app)).get('tarantool_up')).toBe(1) }, { timeout: 5000, interval: 100 })
  })
})
