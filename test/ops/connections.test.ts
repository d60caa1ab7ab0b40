// HTTP connections over real sockets: one that sends nothing is closed after REQUEST_TIMEOUT_MS,
// an idle kept-alive one after KEEP_ALIVE_TIMEOUT_MS, one past MAX_CONNECTIONS at once; a request
// whose answer takes longer than any of them is answered all the same.
import { connect, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { buildApp } from '../support/app.js'

const apps: FastifyInstance[] = []
const sockets: Socket[] = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  for (const app of apps.splice(0)) await app.close()
})

/** The app with these settings, listening on loopback; its port. */
async function serve (env: Record<string, string>, extend?: (app: FastifyInstance) => void): Promise<number> {
  const app = await buildApp({ env, extend })
  apps.push(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as { port: number }).port
}

interface Connection {
  socket: Socket
  /** Everything received so far. */
  received: () => string
  /** When the server closed it, in ms since it was opened. */
  closed: Promise<number>
}

/** A raw TCP connection to the app that sends what it is told to. */
async function open (port: number): Promise<Connection> {
  const socket = connect(port, '127.0.0.1')
  sockets.push(socket)
  const opened = Date.now()
  let received = ''
  socket.on('data', (chunk) => { received += chunk.toString() })
  socket.on('error', () => {})
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - opened)))
  await new Promise((resolve) => socket.once('connect', resolve))
  return { socket, received: () => received, closed }
}

const GET_HEALTH = 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'

/** Resolves with the full answer once `connection` received one. */
async function answer (connection: Connection): Promise<string> {
  while (!/\r\n\r\n[^]*\}$/.test(connection.received())) await new Promise((resolve) => setTimeout(resolve, 10))
  return connection.received()
}

describe('connections', () => {
  it('closes a connection that sends nothing after REQUEST_TIMEOUT_MS', async () => {
    const port = await serve({ REQUEST_TIMEOUT_MS: '500' })
    const silent = await open(port)
    const ms = await silent.closed
    expect(ms).toBeGreaterThanOrEqual(450)
    expect(ms).toBeLessThan(1500)
    expect(silent.received()).toBe('')
  })

  it('answers a request that takes longer than REQUEST_TIMEOUT_MS and KEEP_ALIVE_TIMEOUT_MS to answer', async () => {
    const port = await serve({ REQUEST_TIMEOUT_MS: '300', KEEP_ALIVE_TIMEOUT_MS: '300' }, (app) => {
      app.get('/slow', async () => { await new Promise((resolve) => setTimeout(resolve, 1000)); return { status: 'success', data: null } })
    })
    const connection = await open(port)
    connection.socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
    expect(await answer(connection)).toMatch(/^HTTP\/1.1 200 OK[^]*"data":null\}$/)
    // And a second one on the same connection.
    const first = connection.received().length
    connection.socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
    while (connection.received().length === first || !connection.received().endsWith('}')) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(connection.received().slice(first)).toMatch(/^HTTP\/1.1 200 OK/)
  })

  it('closes an idle kept-alive connection after KEEP_ALIVE_TIMEOUT_MS, and says so', async () => {
    const port = await serve({ KEEP_ALIVE_TIMEOUT_MS: '1000' })
    const connection = await open(port)
    connection.socket.write(GET_HEALTH)
    const reply = await answer(connection)
    const answeredAt = Date.now()
    expect(reply).toMatch(/^HTTP\/1.1 200 OK/)
    expect(reply).toMatch(/\r\nKeep-Alive: timeout=1\r\n/i)
    await connection.closed
    // Node waits a second past the time it advertises, against a client reusing it just then.
    const idle = Date.now() - answeredAt
    expect(idle).toBeGreaterThanOrEqual(900)
    expect(idle).toBeLessThan(3000)
  })

  it('keeps a connection idle between requests open for 5 s by default, as Node does', async () => {
    const port = await serve({})
    const connection = await open(port)
    connection.socket.write(GET_HEALTH)
    expect(await answer(connection)).toMatch(/\r\nKeep-Alive: timeout=5\r\n/i)
  })

  it('closes the connections past MAX_CONNECTIONS as they come, and takes new ones once others close', async () => {
    const port = await serve({ MAX_CONNECTIONS: '3' })
    const open3 = await Promise.all([open(port), open(port), open(port)])
    for (const connection of open3) {
      connection.socket.write(GET_HEALTH)
      expect(await answer(connection)).toMatch(/^HTTP\/1.1 200 OK/)
    }
    const fourth = await open(port)
    fourth.socket.write(GET_HEALTH)
    expect(await fourth.closed).toBeLessThan(1000)
    expect(fourth.received()).toBe('')

    open3[0].socket.destroy()
    await open3[0].closed
    // The server learns of the close a moment later.
    let served = ''
    for (let tries = 0; tries < 20 && served === ''; tries++) {
      const next = await open(port)
      next.socket.write(GET_HEALTH)
      const outcome = await Promise.race([answer(next), next.closed.then(() => '')])
      served = outcome
    }
    expect(served).toMatch(/^HTTP\/1.1 200 OK/)
  })
})
