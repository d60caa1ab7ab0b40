// What the Node client retries and what it does not: a stopped Tarantool (503 storage_unavailable),
// a hung one (timeout), a refused connection, a peer that never answers, a proxy's error page.
import { createServer as createHttpServer } from 'node:http'
import { createServer as createTcpServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { SessionsClient, SessionsError } from '../../client/src/index.js'
import { sessionsPlugin } from '../../client/src/fastify.js'
import { uniqueIp, uniqueUserId } from '../support/app.js'
import { countingFetch, serveApp, type ServedApp } from '../support/client.js'
import { missing } from '../support/programs.js'
import { freePort, startTarantool, TARANTOOL_BIN, type TestTarantool } from '../support/tarantool.js'

const TOKEN = '00000000-0000-4000-8000-000000000000'

/** The SessionsError a call throws. */
async function failure (call: Promise<unknown>): Promise<SessionsError> {
  const err = await call.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(SessionsError)
  return err as SessionsError
}

async function listening (server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const closing: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closing.splice(0)) await close()
})

describe('SessionsClient without the service', () => {
  it('a refused connection: network_error, retried for every method (the request never left)', async () => {
    const client = new SessionsClient({ baseUrl: `http://127.0.0.1:${await freePort()}` })
    const calls = [() => client.get(TOKEN), () => client.create(1, '127.0.0.1'), () => client.rotate(TOKEN), () => client.deleteIp('127.0.0.1')]
    for (const call of calls) {
      const err = await failure(call())
      expect(err).toMatchObject({ code: 'network_error', status: 0, attempts: 3 })
      expect(err.message).toMatch(/ECONNREFUSED/)
      expect(err.cause).toBeInstanceOf(Error)
    }
    expect(await failure(client.get(TOKEN, { retries: 0 }))).toMatchObject({ code: 'network_error', attempts: 1 })
  })

  it('no answer: timeout, per call or the client\'s; retried for reads and deletes, not for create or rotate', async () => {
    const sockets = new Set<Socket>()
    const silent = createTcpServer((socket) => { sockets.add(socket) })
    const baseUrl = await listening(silent)
    closing.push(async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => silent.close(resolve))
    })
    const client = new SessionsClient({ baseUrl, timeoutMs: 100, retries: 1 })
    const expectations: Array<[() => Promise<unknown>, number]> = [
      [() => client.get(TOKEN), 2],
      [() => client.user(1), 2],
      [() => client.delete(TOKEN), 2],
      [() => client.deleteUser(1), 2],
      [() => client.create(1, '127.0.0.1'), 1],
      [() => client.rotate(TOKEN), 1]
    ]
    for (const [call, attempts] of expectations) {
      expect(await failure(call())).toMatchObject({ code: 'timeout', status: 0, attempts, message: 'No answer within 100 ms' })
    }
    const started = Date.now()
    expect(await failure(client.ready({ timeoutMs: 400, retries: 0 }))).toMatchObject({ code: 'timeout', message: 'No answer within 400 ms' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(390)
  })

  it('an answer that is not the envelope: bad_response with its status; a 503 is retried for reads', async () => {
    const replies: Record<string, [number, string]> = {
      '/get': [502, '<html>Bad Gateway</html>'],
      '/user': [503, '<html>No server is available</html>'],
      '/ip': [200, '{"status":"success"}'],
      '/ready': [200, 'not json']
    }
    const proxy = createHttpServer((req, res) => {
      const [status, body] = replies[new URL(req.url!, 'http://x').pathname] ?? [404, '']
      res.writeHead(status, { 'content-type': 'text/html' }).end(body)
    })
    const baseUrl = await listening(proxy)
    closing.push(async () => { await new Promise((resolve) => proxy.close(resolve)) })
    const client = new SessionsClient({ baseUrl })
    expect(await failure(client.get(TOKEN))).toMatchObject({ code: 'bad_response', status: 502, attempts: 1 })
    const unavailable = await failure(client.user(1))
    expect(unavailable).toMatchObject({ code: 'bad_response', status: 503, attempts: 3 })
    expect(unavailable.message).toContain('No server is available')
    expect(await failure(client.ip('127.0.0.1'))).toMatchObject({ code: 'bad_response', status: 200 })
    expect(await failure(client.ready())).toMatchObject({ code: 'bad_response', status: 200 })
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('SessionsClient while Tarantool is down', () => {
  let tarantool: TestTarantool
  let served: ServedApp
  beforeAll(async () => {
    tarantool = await startTarantool()
    // Longer than the client's timeouts below: a hung Tarantool is the client's timeout, not a 503.
    served = await serveApp({ uri: tarantool.uri, env: { TARANTOOL_TIMEOUT_MS: '3000' } })
  })
  afterAll(async () => {
    // After a timed-out request, fetch opens a connection it never sends on; Node's server.close()
    // waits on such a one until its keep-alive timeout (72 s with Fastify).
    served?.app.server.closeAllConnections()
    await served?.app.close()
    await tarantool?.stop()
  })

  it('503 storage_unavailable: retried, then thrown, for what is safe to repeat; create and rotate at once', async () => {
    const counting = countingFetch()
    const client = new SessionsClient({ baseUrl: served.baseUrl, fetch: counting.fetch })
    const session = await client.create(uniqueUserId(), uniqueIp())
    tarantool.signal!('SIGKILL')
    let back: Promise<void> | undefined
    try {
      const expectations: Array<[() => Promise<unknown>, number]> = [
        [() => client.get(session.token), 3],
        [() => client.user(session.user_id), 3],
        [() => client.deleteById(session.id), 3],
        [() => client.deleteUser(session.user_id), 3],
        [() => client.ready(), 3],
        [() => client.create(uniqueUserId(), uniqueIp()), 1],
        [() => client.rotate(session.token), 1]
      ]
      for (const [call, attempts] of expectations) {
        const err = await failure(call())
        expect(err).toMatchObject({ code: 'storage_unavailable', status: 503, attempts })
      }

      // The Fastify plugin answers 503 while it cannot tell, never 401.
      const app = Fastify()
      await app.register(sessionsPlugin, { client: new SessionsClient({ baseUrl: served.baseUrl, retries: 0 }) })
      app.get('/', async (request) => request.session)
      const res = await app.inject({ url: '/', headers: { cookie: `session=${session.token}` } })
      expect({ status: res.statusCode, body: res.json() })
        .toEqual({ status: 503, body: { status: 'error', code: 'storage_unavailable', message: expect.any(String) } })
      await app.close()

      // A read retried long enough gets through once Tarantool is back.
      const from = counting.sent.length
      const waiting = client.get(session.token, { retries: 12 })
      back = pause(200).then(async () => { await tarantool.restart!() })
      expect((await waiting).id).toBe(session.id)
      expect(counting.sent.length - from).toBeGreaterThan(1)
    } finally {
      await (back ?? tarantool.restart!())
    }
  })

  it('a hung Tarantool: the client\'s timeout, per call', async () => {
    const client = new SessionsClient({ baseUrl: served.baseUrl, retries: 0 })
    await client.ready({ retries: 20 })
    const session = await client.create(uniqueUserId(), uniqueIp())
    tarantool.signal!('SIGSTOP')
    try {
      expect(await failure(client.get(session.token, { timeoutMs: 300 }))).toMatchObject({ code: 'timeout', status: 0, attempts: 1 })
    } finally {
      tarantool.signal!('SIGCONT')
    }
    expect((await client.get(session.token, { retries: 20 })).id).toBe(session.id)
  })
})
