// The service connected fine, then Tarantool's password for it changed (through the admin console)
// and the connection dropped: the reconnect is refused. The README's promise: logged once, 503
// until the service is restarted with the right password, no retrying meanwhile.
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connectConsole } from '../../lib/admin-console.js'
import { buildApp, call, ok, uniqueUserId } from '../support/app.js'
import { freePort, startTarantool, TARANTOOL_BIN, USER } from '../support/tarantool.js'
import { missing } from '../support/programs.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

// Requests are sent this long after the refusal, to see that no retry or second line comes.
const WATCH_MS = 3000
const NEW_PASSWORD = 'changed-on-the-tarantool-side'

/** A TCP relay to a port, whose connections the test can cut, as a network blip does. */
interface Relay {
  port: number
  /** Connections made through it so far. */
  connections: () => number
  /** Cuts every connection open now. */
  cut: () => void
}

async function relay (target: number): Promise<Relay> {
  const sockets = new Set<Socket>()
  let connections = 0
  const server: Server = createServer((client) => {
    connections++
    const upstream = connect(target, '127.0.0.1')
    for (const [from, to] of [[client, upstream], [upstream, client]]) {
      sockets.add(from)
      from.on('error', () => {})
      from.on('close', () => { sockets.delete(from); to.destroy() })
      from.pipe(to)
    }
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  cleanup.push(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy()
    server.close(() => resolve())
  }))
  return {
    port,
    connections: () => connections,
    cut: () => { for (const socket of sockets) socket.destroy() }
  }
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('credentials refused after a good connection', () => {
  it('logs it once, answers 503 storage_unavailable without retrying, and serves again once restarted with the new password', { timeout: 30_000 }, async () => {
    const tarantool = await startTarantool()
    const consoleSocket = tarantool.console!
    cleanup.push(() => tarantool.stop())
    const network = await relay(tarantool.port)
    const lines: Array<{ msg: string, level: number }> = []
    const app: FastifyInstance = await buildApp({
      uri: `${USER}:${tarantool.password}@127.0.0.1:${network.port}`,
      env: { LOG_LEVEL: 'info' },
      logStream: { write: (line) => lines.push(JSON.parse(line)) }
    })
    cleanup.push(() => app.close())
    const { token } = await ok(app, { url: `/new?user_id=${uniqueUserId()}&ip=127.0.0.1` })

    const admin = await connectConsole(consoleSocket, { timeoutMs: 5000 })
    try {
      await admin.eval(`box.schema.user.passwd('${USER}', '${NEW_PASSWORD}')`)
    } finally {
      admin.close()
    }
    expect(network.connections()).toBe(1)
    network.cut()

    const refusals = (): number => lines.filter((line) => line.msg === 'Tarantool rejected the credentials').length
    const answers = new Map<string, number>()
    const ask = async (url: string): Promise<void> => {
      const res = await app.inject({ url })
      const key = `${res.statusCode} ${res.json().code as string}`
      answers.set(key, (answers.get(key) ?? 0) + 1)
    }
    const urls = [`/get?token=${token}`, `/new?user_id=${uniqueUserId()}&ip=127.0.0.1`, `/user?id=${uniqueUserId()}`, '/ready']
    // From the cut on: before the reconnect, during it, and for WATCH_MS after the refusal.
    let refusedAt: number | undefined
    await vi.waitFor(async () => {
      for (const url of urls) await ask(url)
      if (refusals() > 0) refusedAt ??= Date.now()
      expect(refusedAt !== undefined && Date.now() - refusedAt >= WATCH_MS).toBe(true)
    }, { timeout: 15_000, interval: 50 })

    expect(refusals()).toBe(1)
    expect([...answers.keys()]).toEqual(['503 storage_unavailable'])
    expect(answers.get('503 storage_unavailable')).toBeGreaterThan(urls.length * 10)
    // One reconnect, refused, and none after it.
    expect(network.connections()).toBe(2)
    expect(lines.filter((line) => line.level >= 50).map((line) => line.msg)).toEqual(['Tarantool rejected the credentials'])

    // Restarted with the password Tarantool has now: it serves again, the session still there.
    const restarted = await buildApp({ uri: `${USER}:${NEW_PASSWORD}@127.0.0.1:${tarantool.port}` })
    cleanup.push(() => restarted.close())
    expect((await call(restarted, { url: `/get?token=${token}` })).statusCode).toBe(200)
  })
})
