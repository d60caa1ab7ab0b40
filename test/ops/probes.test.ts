// /health says the process is up; /ready says Tarantool answers: on an instance of the test's own,
// killed and brought back.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest'
import { apiError, buildApp, call } from '../support/app.js'
import { startTarantool, TARANTOOL_BIN, type TestTarantool } from '../support/tarantool.js'
import { missing } from '../support/programs.js'

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('probes', () => {
  let tarantool: TestTarantool
  let app: FastifyInstance
  beforeAll(async () => {
    tarantool = await startTarantool()
    app = await buildApp({ uri: tarantool.uri })
  })
  afterAll(async () => {
    await app?.close()
    await tarantool?.stop()
  })

  it('are ready and alive while Tarantool answers', async () => {
    expect(await call(app, { url: '/health' })).toEqual({
      statusCode: 200,
      body: { status: 'success', data: { uptime_seconds: expect.any(Number) } }
    })
    expect(await call(app, { url: '/ready' })).toEqual({
      statusCode: 200,
      body: { status: 'success', data: { tarantool_version: expect.stringMatching(/^\d+\.\d+\.\d+/), sessions: 0 } }
    })
  })

  it('are not ready while Tarantool is paused or gone, alive all along, and ready again when it is back', async () => {
    // A paused Tarantool is told only by the timeout: a short one, for this test alone.
    const app = await buildApp({ uri: tarantool.uri, env: { TARANTOOL_TIMEOUT_MS: '300' } })
    onTestFinished(async () => { await app.close() })
    tarantool.signal!('SIGSTOP')
    try {
      const started = Date.now()
      expect(await call(app, { url: '/ready' })).toEqual({ statusCode: 503, body: apiError('storage_unavailable') })
      expect(Date.now() - started).toBeLessThan(2000)
      expect((await call(app, { url: '/health' })).statusCode).toBe(200)
    } finally {
      tarantool.signal!('SIGCONT')
    }

    tarantool.signal!('SIGKILL')
    await vi.waitFor(async () => {
      expect(await call(app, { url: '/ready' })).toEqual({ statusCode: 503, body: apiError('storage_unavailable') })
    }, { timeout: 5000, interval: 50 })
    expect((await call(app, { url: '/health' })).statusCode).toBe(200)

    await tarantool.restart!()
    const back = Date.now()
    await vi.waitFor(async () => { expect((await call(app, { url: '/ready' })).statusCode).toBe(200) }, { timeout: 10_000, interval: 50 })
    // Soon, by itself; wide, for a busy machine (no figure is promised).
    expect(Date.now() - back).toBeLessThan(5000)
  })
})
