// The wrapper's guarantees, against a local Tarantool that the tests stop, kill and restart.
import { createServer, Socket } from 'node:net'
import { pack, unpackMultiple } from 'msgpackr'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { parseTarantoolUri } from '../../src/config.js'
import { TarantoolClient, type TarantoolClientOptions } from '../../src/store/tarantool-client.js'
import { ER, StorageAuthError, StorageUnavailableError } from '../../src/store/tarantool-errors.js'
import { freePort, GENEROUS_TIMEOUT_MS, startTarantool, TARANTOOL_BIN, type TestTarantool } from '../support/tarantool.js'
import { missing } from '../support/programs.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A fresh Tarantool and a client connected to it; a short `timeoutMs` only where the test is about it. */
async function setup (timeoutMs = GENEROUS_TIMEOUT_MS): Promise<{ tarantool: TestTarantool, client: TarantoolClient }> {
  const tarantool = await startTarantool()
  cleanup.push(tarantool.stop)
  const client = new TarantoolClient({ ...parseTarantoolUri(tarantool.uri), timeoutMs })
  cleanup.push(() => client.close())
  await client.waitConnected(5000)
  return { tarantool, client }
}

const stats = (client: TarantoolClient): Promise<unknown[]> => client.call('sessions.stats', [])

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('TarantoolClient', () => {
  it('calls a procedure and returns its values', async () => {
    const { client } = await setup()
    const [result] = await stats(client) as [{ sessions: number }]
    expect(result.sessions).toBe(0)
    expect(client.state).toBe('connected')
  })

  it('answers each of many calls made at once with its own result', async () => {
    const { client } = await setup()
    const results = await Promise.all(Array.from({ length: 200 }, async (_, i) => await client.call('sessions.by_user', [i, 10])))
    expect(results).toEqual(Array.from({ length: 200 }, () => [{ sessions: [], activities: [], expires: [], ips: [] }]))
    const [[stats]] = await Promise.all([client.call('sessions.stats', []), client.call('sessions.by_ip', ['192.0.2.1', 10])]) as [[{ sessions: number }], unknown]
    expect(stats.sessions).toBe(0)
  })

  it('sends the calls of one event-loop turn and the next in one write', async () => {
    const { tarantool, client } = await setup()
    const port = Number(tarantool.uri.split(':').at(-1))
    const write = vi.spyOn(Socket.prototype, 'write')
    cleanup.push(() => write.mockRestore())
    const calls = Array.from({ length: 5 }, async () => await stats(client))
    // The next turn: an immediate set now runs before the client's second one.
    await new Promise<void>((resolve) => setImmediate(() => {
      calls.push(...Array.from({ length: 5 }, async () => await stats(client)))
      resolve()
    }))
    expect(await Promise.all(calls)).toHaveLength(10)
    const toTarantool = write.mock.contexts.filter((socket) => (socket as Socket).remotePort === port)
    expect(toTarantool).toHaveLength(1)
  })

  it('never sends a call that failed with its connection, not even on the next one', async () => {
    const { client } = await setup()
    const write = vi.spyOn(Socket.prototype, 'write')
    cleanup.push(() => write.mockRestore())
    await stats(client)
    const socket = write.mock.contexts.at(-1) as Socket
    // Written at the end of the next turn: the connection drops before.
    const token = (i: number): unknown => client.uuid(`00000000-0000-4000-8000-00000000000${i}`)
    const creates = [1, 2, 3].map(async (i) => await client.call('sessions.new', [token(i), i, 167772161, null]))
    socket.destroy()
    for (const created of creates) await expect(created).rejects.toBeInstanceOf(StorageUnavailableError)
    await vi.waitFor(async () => { await stats(client) }, { timeout: 5000, interval: 50 })
    const [after] = await stats(client) as [{ sessions: number }]
    expect(after.sessions).toBe(0)
  })

  it('fails a call that gets no answer within the timeout', async () => {
    const { tarantool, client } = await setup(300)
    tarantool.signal!('SIGSTOP')
    cleanup.push(() => tarantool.signal!('SIGCONT'))
    const started = Date.now()
    await expect(stats(client)).rejects.toBeInstanceOf(StorageUnavailableError)
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(250)
    expect(elapsed).toBeLessThan(3000)
    tarantool.signal!('SIGCONT')
    // Maybe after a reconnect: the connection may have been dropped as answering nothing.
    await vi.waitFor(async () => { await stats(client) }, { timeout: 5000, interval: 50 })
  })

  it('sends no more than maxInFlight calls at once: the next fail at once, unsent, until answers come', async () => {
    const tarantool = await startTarantool()
    cleanup.push(tarantool.stop)
    const client = new TarantoolClient({ ...parseTarantoolUri(tarantool.uri), timeoutMs: GENEROUS_TIMEOUT_MS, maxInFlight: 2 })
    cleanup.push(() => client.close())
    await client.waitConnected(5000)
    const outcomes: string[] = []
    client.on('call', (_name: string, _seconds: number, outcome: string) => outcomes.push(outcome))
    tarantool.signal!('SIGSTOP')
    cleanup.push(() => tarantool.signal!('SIGCONT'))
    const waiting = [stats(client), stats(client)]
    const started = Date.now()
    await expect(stats(client)).rejects.toMatchObject({ name: 'StorageUnavailableError', applied: 'no' })
    expect(Date.now() - started).toBeLessThan(100)
    expect(outcomes).toEqual(['shed'])
    tarantool.signal!('SIGCONT')
    await Promise.all(waiting)
    await stats(client)
    expect(outcomes).toEqual(['shed', 'ok', 'ok', 'ok'])
  })

  it('fails calls in flight as soon as the connection drops, and fails fast while down', async () => {
    const { tarantool, client } = await setup(20_000)
    tarantool.signal!('SIGSTOP')
    const inFlight = Promise.allSettled([stats(client), stats(client)])
    await new Promise((resolve) => setTimeout(resolve, 100))
    const killedAt = Date.now()
    tarantool.signal!('SIGKILL')
    const results = await inFlight
    expect(Date.now() - killedAt).toBeLessThan(3000)
    for (const result of results) {
      expect(result.status).toBe('rejected')
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(StorageUnavailableError)
      // Sent, then the connection went: it may have run.
      expect((result as PromiseRejectedResult).reason).toMatchObject({ applied: 'unknown' })
    }

    // Far sooner than the 20 s timeout: nothing is sent while disconnected, so nothing ran.
    const started = Date.now()
    await expect(stats(client)).rejects.toBeInstanceOf(StorageUnavailableError)
    await expect(stats(client)).rejects.toMatchObject({ applied: 'no' })
    expect(Date.now() - started).toBeLessThan(1000)
    expect(client.state).not.toBe('connected')
  })

  it('drops a connection that answers nothing, and makes a new one once Tarantool answers', async () => {
    const { tarantool, client } = await setup(200)
    tarantool.signal!('SIGSTOP')
    cleanup.push(() => tarantool.signal!('SIGCONT'))
    await expect(stats(client)).rejects.toBeInstanceOf(StorageUnavailableError)
    await vi.waitFor(() => { expect(client.state).not.toBe('connected') }, { timeout: 5000, interval: 50 })
    tarantool.signal!('SIGCONT')
    await vi.waitFor(async () => { await stats(client) }, { timeout: 5000, interval: 50 })
    expect(client.state).toBe('connected')
  })

  it('reconnects by itself when Tarantool comes back', async () => {
    const { tarantool, client } = await setup()
    tarantool.signal!('SIGKILL')
    await vi.waitFor(() => { expect(client.state).not.toBe('connected') }, { timeout: 5000, interval: 50 })
    await tarantool.restart!()
    const back = Date.now()
    await vi.waitFor(async () => { await stats(client) }, { timeout: 10_000, interval: 50 })
    // Soon: retries are at most 0.5 s apart. Wide, for a busy machine; no figure is promised.
    expect(Date.now() - back).toBeLessThan(5000)
  })

  it('reports bad credentials once instead of retrying them', async () => {
    const { tarantool } = await setup()
    const client = new TarantoolClient({ ...parseTarantoolUri(tarantool.uri), password: 'wrong', timeoutMs: GENEROUS_TIMEOUT_MS })
    cleanup.push(() => client.close())
    const failures: Error[] = []
    client.on('auth_failed', (err: Error) => failures.push(err))

    await expect(client.waitConnected(5000)).rejects.toBeInstanceOf(StorageAuthError)
    await expect(client.waitConnected(5000)).rejects.toThrow(/rejected user 'sessions'/)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(client.state).toBe('auth_failed')
    expect(failures).toHaveLength(1)
    await expect(stats(client)).rejects.toBeInstanceOf(StorageUnavailableError)
  })

  it('keeps retrying when the connection drops during the login', async () => {
    // A peer that greets like Tarantool, then hangs up when the login comes.
    const greeting = Buffer.alloc(128, ' ')
    greeting.write('Tarantool 2.6.0 (Binary) 00000000-0000-0000-0000-000000000000')
    greeting.write('\n', 63)
    greeting.write('c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0c2FsdHNhbHQ=', 64)
    greeting.write('\n', 127)
    let connections = 0
    const sockets = new Set<Socket>()
    const server = createServer((socket) => {
      connections++
      sockets.add(socket)
      socket.write(greeting)
      socket.once('data', () => socket.destroy())
    })
    const port = await freePort()
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    cleanup.push(() => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    }))

    const client = new TarantoolClient({ host: '127.0.0.1', port, user: 'sessions', password: 'x', timeoutMs: GENEROUS_TIMEOUT_MS })
    cleanup.push(() => client.close())
    await vi.waitFor(() => { expect(connections).toBeGreaterThanOrEqual(3) }, { timeout: 5000 })
    expect(client.state).not.toBe('auth_failed')
  })

  it('keeps trying while nothing listens, failing calls fast meanwhile', async () => {
    const port = await freePort()
    const client = new TarantoolClient({ host: '127.0.0.1', port, user: 'sessions', password: 'x', timeoutMs: GENEROUS_TIMEOUT_MS })
    cleanup.push(() => client.close())
    await expect(client.waitConnected(300)).rejects.toBeInstanceOf(StorageUnavailableError)
    await expect(stats(client)).rejects.toThrow(/Tarantool is (connecting|disconnected)/)
  })
})

/**
 * A peer that greets like Tarantool and answers each login with the next of `answers` (an error
 * code, or 0 for "logged in"; the last one repeats): Tarantool's answers, without its checks.
 */
async function fakeTarantool (answers: number[]): Promise<{ port: number, logins: () => number }> {
  const greeting = Buffer.alloc(128, ' ')
  greeting.write('Tarantool 2.11.9 (Binary) 00000000-0000-0000-0000-000000000000')
  greeting.write('\n', 63)
  greeting.write('c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0c2FsdHNhbHQ=', 64)
  greeting.write('\n', 127)
  const messages: Record<number, string> = { [ER.LOADING]: 'Instance bootstrap hasn\'t finished yet', 47: 'User not found or supplied credentials are invalid' }
  let logins = 0
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.write(greeting)
    socket.once('data', (request: Buffer) => {
      // The login: 0xce, its length, then its header, whose sync the answer carries.
      const [header] = unpackMultiple(request.subarray(5)) as [Record<number, number>]
      const code = answers[Math.min(logins++, answers.length - 1)]
      const frame = Buffer.concat([
        pack(new Map([[0, code === 0 ? 0 : 0x8000 | code], [1, header[1]], [5, 80]])),
        pack(new Map(code === 0 ? [] : [[0x31, messages[code] ?? 'error']]))
      ])
      const length = Buffer.alloc(5)
      length[0] = 0xce
      length.writeUInt32BE(frame.length, 1)
      socket.write(Buffer.concat([length, frame]))
    })
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  cleanup.push(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy()
    server.close(() => resolve())
  }))
  return { port, logins: () => logins }
}

/** A client of the fake Tarantool at `port`, closed after the test. */
function loginClient (port: number, opts: Partial<TarantoolClientOptions> = {}): TarantoolClient {
  const client = new TarantoolClient({ host: '127.0.0.1', port, user: 'sessions', password: 'x', timeoutMs: GENEROUS_TIMEOUT_MS, ...opts })
  cleanup.push(() => client.close())
  return client
}

/** What the client reports of its logins: 'loading' (not ready yet) and 'auth_failed' events. */
function reports (client: TarantoolClient): { loading: Error[], refused: Error[] } {
  const loading: Error[] = []
  const refused: Error[] = []
  client.on('loading', (err: Error) => loading.push(err))
  client.on('auth_failed', (err: Error) => refused.push(err))
  return { loading, refused }
}

describe('TarantoolClient, logins refused', () => {
  it('tries again while Tarantool is still loading (ER_LOADING), reporting it once, and connects once it is ready', async () => {
    const tarantool = await fakeTarantool([ER.LOADING, ER.LOADING, ER.LOADING, 0])
    const client = loginClient(tarantool.port)
    const { loading, refused } = reports(client)

    await client.waitConnected(5000)
    expect(tarantool.logins()).toBe(4)
    expect(refused).toEqual([])
    expect(loading).toHaveLength(1)
    expect(loading[0]).toBeInstanceOf(StorageUnavailableError)
    expect(loading[0]).toMatchObject({ tarantoolCode: ER.LOADING, applied: 'no', message: 'Tarantool is still loading: Instance bootstrap hasn\'t finished yet' })
    expect(client.state).toBe('connected')
  })

  it('answers calls storage_unavailable, saying why, while Tarantool is loading', async () => {
    const tarantool = await fakeTarantool([ER.LOADING])
    const client = loginClient(tarantool.port)
    await vi.waitFor(() => { expect(tarantool.logins()).toBeGreaterThanOrEqual(3) }, { timeout: 5000 })
    expect(client.state).not.toBe('auth_failed')
    await expect(client.waitConnected(100)).rejects.toThrow(/still loading: Instance bootstrap hasn't finished yet/)
    await expect(client.call('sessions.stats', [])).rejects.toBeInstanceOf(StorageUnavailableError)
  })

  it('takes a refusal of the credentials soon after ER_LOADING as not ready yet: the user comes with the bootstrap', async () => {
    const tarantool = await fakeTarantool([ER.LOADING, ER.LOADING, 47, 47, 0])
    const client = loginClient(tarantool.port)
    const { loading, refused } = reports(client)
    await client.waitConnected(5000)
    expect(tarantool.logins()).toBe(5)
    expect(loading).toHaveLength(1)
    expect(refused).toEqual([])
  })

  it('takes a refusal of the credentials as not ready yet while its replica set says it is starting', async () => {
    const tarantool = await fakeTarantool([47, 47, 0])
    let starting = true
    const client = loginClient(tarantool.port, { starting: () => starting })
    const refused: Error[] = []
    client.on('auth_failed', (err: Error) => refused.push(err))
    await client.waitConnected(5000)
    expect(refused).toEqual([])

    // Once the set is not starting, a refusal is one.
    const later = await fakeTarantool([47])
    starting = false
    const other = new TarantoolClient({ host: '127.0.0.1', port: later.port, user: 'sessions', password: 'x', timeoutMs: GENEROUS_TIMEOUT_MS, starting: () => starting })
    cleanup.push(() => other.close())
    await expect(other.waitConnected(5000)).rejects.toBeInstanceOf(StorageAuthError)
  })

  it('stops at a refusal of the credentials that goes on past the grace after ER_LOADING', async () => {
    const tarantool = await fakeTarantool([ER.LOADING, 47])
    const client = loginClient(tarantool.port, { startingGraceMs: 300 })
    const refused: Error[] = []
    client.on('auth_failed', (err: Error) => refused.push(err))
    await expect(client.waitConnected(5000)).rejects.toThrow(/rejected user 'sessions': User not found or supplied credentials are invalid/)
    const logins = tarantool.logins()
    expect(logins).toBeGreaterThan(2)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(tarantool.logins()).toBe(logins)
    expect(refused).toHaveLength(1)
    expect(client.state).toBe('auth_failed')
  })

  it('still stops at a refusal of the credentials (ER_CREDS_MISMATCH)', async () => {
    const tarantool = await fakeTarantool([47])
    const client = loginClient(tarantool.port)
    const loading: Error[] = []
    client.on('loading', (err: Error) => loading.push(err))
    await expect(client.waitConnected(5000)).rejects.toBeInstanceOf(StorageAuthError)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(tarantool.logins()).toBe(1)
    expect(client.state).toBe('auth_failed')
    expect(loading).toEqual([])
  })
})
