// /health says the process is up; /ready says Tarantool answers: on an instance of the test's own,
// killed and brought back.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest'
import { connectConsole, type AdminConsole } from '../../lib/admin-console.js'
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

  it('are not ready while Tarantool holds another service\'s settings, and say which', async () => {
    const other = await buildApp({ uri: tarantool.uri, env: { SESSION_TTL_SECONDS: '3600' } })
    try {
      const res = await app.inject({ url: '/ready' })
      expect(res.statusCode).toBe(503)
      expect(res.json()).toEqual({ status: 'error', code: 'storage_unavailable', message: expect.stringContaining('ttl 3600 against SESSION_TTL_SECONDS=15552000') })
      expect((await other.inject({ url: '/ready' })).statusCode).toBe(200)
    } finally {
      await other.close()
    }
    // Ours again once it pushes them (at its next connect: here, a new app with them).
    const again = await buildApp({ uri: tarantool.uri })
    await again.close()
    expect((await app.inject({ url: '/ready' })).statusCode).toBe(200)
  })

  it('are not ready while Tarantool keeps events for another retention, and say which', async () => {
    const other = await buildApp({ uri: tarantool.uri, env: { EVENTS_RETENTION_SECONDS: '60' } })
    try {
      const res = await app.inject({ url: '/ready' })
      expect(res.statusCode).toBe(503)
      expect(res.json().message).toContain('events retention 60 against EVENTS_RETENTION_SECONDS=900')
    } finally {
      await other.close()
    }
    const again = await buildApp({ uri: tarantool.uri })
    await again.close()
    expect((await app.inject({ url: '/ready' })).statusCode).toBe(200)
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('readiness and a failed push of the settings', () => {
  let tarantool: TestTarantool
  let admin: AdminConsole
  beforeAll(async () => {
    tarantool = await startTarantool()
    admin = await connectConsole(tarantool.console!)
  })
  afterAll(async () => {
    admin?.close()
    await tarantool?.stop()
  })

  it('is not ready while its settings could not be pushed, and tries again until they are', async () => {
    const app = await buildApp({ uri: tarantool.uri, env: { TARANTOOL_TIMEOUT_MS: '300' } })
    onTestFinished(async () => { await app.close() })
    expect((await app.inject({ url: '/ready' })).statusCode).toBe(200)
    // configure fails from now on; a paused Tarantool makes the service reconnect, and push again.
    await admin.eval('broken_configure = sessions.configure; sessions.configure = function() error("settings store broken") end')
    tarantool.signal!('SIGSTOP')
    try {
      // A call that gets no answer at all: the connection is dropped as dead.
      expect((await app.inject({ url: '/ready' })).statusCode).toBe(503)
    } finally {
      tarantool.signal!('SIGCONT')
    }
    await vi.waitFor(async () => {
      const res = await app.inject({ url: '/ready' })
      expect(res.statusCode).toBe(503)
      expect(res.json().message).toContain('could not be applied')
    }, { timeout: 10_000, interval: 100 })
    await admin.eval('sessions.configure = broken_configure')
    await vi.waitFor(async () => { expect((await app.inject({ url: '/ready' })).statusCode).toBe(200) }, { timeout: 5000, interval: 100 })
  })
})
