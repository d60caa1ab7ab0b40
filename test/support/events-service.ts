// A stand-in of the service for the caching client's tests: GET /events as src/routes/events.ts
// writes it (`retry:`, what a resumed stream missed or `reset`, then `: connected`, then events as
// `id/event/data` and `: ping`), and the session endpoints the client calls, answering from a Map the test controls. It lets a
// test hold an answer of /get while it sends an event, and cut or silence the stream: the races
// and failures the real service does not produce on demand. Loopback only.
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { SessionWithToken } from '../../client/src/index.js'

export type EventType = 'created' | 'revoked' | 'rotated' | 'updated'

export interface FakeServiceOptions {
  /** How often an idle stream gets `: ping` (the service: 4 s); 0: never. */
  pingMs?: number
  /** Events kept for resuming; a Last-Event-ID older than those gets `reset`. */
  keep?: number
  /** What /events answers instead of a stream (a service without it, say). */
  eventsStatus?: number
}

export interface FakeService {
  baseUrl: string
  /** The sessions /get answers, by token. */
  sessions: Map<string, SessionWithToken>
  /** Each /events request's headers, in order. */
  connections: IncomingHttpHeaders[]
  /** Each session request (not /events) as `METHOD /path?query`, in order. */
  requests: string[]
  /** The /get requests among them. */
  gets: () => string[]
  /** While set, /get reads the session at once but answers only once this settles. */
  hold: Promise<void> | undefined
  /** While set, a new stream gets its headers at once, and what it missed and `: connected` once this settles. */
  holdStreams: Promise<void> | undefined
  /** Streams open now. */
  open: () => number
  /** A new session, held by the service. */
  add: (fields?: Partial<SessionWithToken>) => SessionWithToken
  /** Sends an event naming this session to every open stream (and keeps it for resuming); its seq. */
  emit: (type: EventType, session: SessionWithToken, fields?: Record<string, unknown>) => number
  /** Forgets the events kept and sends `reset` to every open stream; its id. */
  reset: () => number
  /** Sends `: ping` to every open stream now. */
  ping: () => void
  /** Stops (true) or restarts (false) the pings, the connection staying open. */
  silence: (on: boolean) => void
  /** Cuts every open stream. */
  drop: () => void
  close: () => Promise<void>
}

interface Kept { seq: number, text: string }

/** Starts the stand-in on a free loopback port. */
export async function startFakeService (opts: FakeServiceOptions = {}): Promise<FakeService> {
  const keep = opts.keep ?? 1000
  const streams = new Set<ServerResponse>()
  const kept: Kept[] = []
  let seq = 0
  let silent = false
  const write = (text: string): void => { for (const res of streams) res.write(text) }

  const fake: FakeService = {
    baseUrl: '',
    sessions: new Map(),
    connections: [],
    requests: [],
    gets: () => fake.requests.filter((r) => / \/get\?/.test(r)),
    hold: undefined,
    holdStreams: undefined,
    open: () => streams.size,
    add: (fields = {}) => {
      const now = Date.now() / 1000
      const session: SessionWithToken = {
        ip: '192.0.2.1',
        extra: { n: 1 },
        user_id: 1,
        create: Math.floor(now),
        activity: Math.floor(now),
        expires: Math.floor(now) + 3600,
        id: randomBytes(16).toString('base64url'),
        token: randomUUID(),
        ...fields
      }
      fake.sessions.set(session.token, session)
      return session
    },
    emit: (type, session, fields = {}) => {
      seq++
      const data = { seq, type, id: session.id, user_id: session.user_id, time: Date.now() / 1000, ...fields }
      const text = `id: ${seq}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`
      kept.push({ seq, text })
      if (kept.length > keep) kept.shift()
      write(text)
      return seq
    },
    reset: () => {
      kept.length = 0
      write(`id: ${seq}\nevent: reset\ndata: {"reason":"test"}\n\n`)
      return seq
    },
    ping: () => { write(': ping\n\n') },
    silence: (on) => { silent = on },
    drop: () => { for (const res of streams) res.destroy() },
    close: async () => {
      clearInterval(pinger)
      fake.drop()
      await new Promise((resolve) => { server.close(resolve); server.closeAllConnections() })
    }
  }

  const pinger = setInterval(() => { if (!silent) fake.ping() }, opts.pingMs ?? 100)
  if (opts.pingMs === 0) clearInterval(pinger)

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake')
    if (url.pathname === '/events') {
      fake.connections.push(req.headers)
      if (opts.eventsStatus !== undefined) {
        res.writeHead(opts.eventsStatus, { 'content-type': 'application/json' }).end('{"status":"error","code":"not_found","message":"Not found"}')
        return
      }
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
      res.write('retry: 1000\n\n')
      void subscribe(req.headers['last-event-id'] ?? url.searchParams.get('last_event_id'), res)
      return
    }
    fake.requests.push(`${req.method} ${url.pathname}${url.search}`)
    req.resume()
    req.on('end', () => { void answer(url, res) })
  })

  async function subscribe (from: string | string[] | null | undefined, res: ServerResponse): Promise<void> {
    await fake.holdStreams
    if (res.destroyed) return
    if (typeof from === 'string') {
      const after = Number(from)
      if (after < seq && (kept.length === 0 || kept[0].seq > after + 1)) res.write(`id: ${seq}\nevent: reset\ndata: {"reason":"too_old"}\n\n`)
      else for (const event of kept) if (event.seq > after) res.write(event.text)
    }
    res.write(': connected\n\n')
    streams.add(res)
    res.on('close', () => { streams.delete(res) })
  }

  async function answer (url: URL, res: ServerResponse): Promise<void> {
    const q = (name: string): string => url.searchParams.get(name) ?? ''
    const byId = (id: string): SessionWithToken | undefined => [...fake.sessions.values()].find((s) => s.id === id)
    const found = (session: SessionWithToken | undefined): void => {
      if (session === undefined) send(404, { status: 'error', code: 'token_not_found', message: 'Session not found' })
      else send(200, { status: 'success', data: session })
    }
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    }
    const ending = (test: (s: SessionWithToken) => boolean): void => {
      let deleted = 0
      for (const [token, session] of fake.sessions) if (test(session)) { fake.sessions.delete(token); deleted++ }
      send(200, { status: 'success', data: { deleted } })
    }
    switch (url.pathname) {
      case '/get': {
        let session = fake.sessions.get(q('token'))
        if (session !== undefined && url.searchParams.has('ip')) fake.sessions.set(session.token, session = { ...session, ip: q('ip') })
        await fake.hold
        found(session === undefined ? undefined : { ...session })
        return
      }
      case '/del': {
        const session = url.searchParams.has('id') ? byId(q('id')) : fake.sessions.get(q('token'))
        if (session !== undefined) fake.sessions.delete(session.token)
        found(session)
        return
      }
      case '/rotate': {
        const session = fake.sessions.get(q('token'))
        if (session === undefined) return found(undefined)
        fake.sessions.delete(session.token)
        const rotated = { ...session, token: randomUUID() }
        fake.sessions.set(rotated.token, rotated)
        found(rotated)
        return
      }
      case '/del_user': return ending((s) => s.user_id === Number(q('id')))
      case '/del_ip': return ending((s) => s.ip === q('ip'))
      default: send(404, { status: 'error', code: 'not_found', message: 'Not found' })
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  fake.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return fake
}
