// The reference of the subscribers' part of `npm run bench:events`: the least a Node process can do
// to fan an event out to N Server-Sent Events streams. A bare node:http server, no Fastify, no
// Tarantool, run as a process of its own (`node --import tsx bench/events-reference.ts PORT`):
// GET /events opens a stream as the service's does (the same headers, retry line and
// `: connected`, a heartbeat every 4 s); GET /new answers a made-up session at once, then writes
// its `created` event, the same bytes the service would write (src/events/sse.ts), to every
// stream, one write each. The service gets its events from Tarantool a moment after /new's answer
// too; this one skips that step, so its delivery times are a floor.
import { randomBytes } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import { formatEvent, HEARTBEAT, RETRY } from '../src/events/sse.js'
import type { SessionEvent } from '../src/store/types.js'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) throw new Error('usage: events-reference.ts PORT')

const HEARTBEAT_MS = 4000
const streams = new Set<ServerResponse>()
let seq = 0

function fanOut (event: SessionEvent): void {
  const chunk = formatEvent(event)
  for (const res of streams) res.write(chunk)
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  if (url.pathname === '/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' })
    res.write(RETRY)
    res.write(': connected\n\n')
    streams.add(res)
    res.on('close', () => streams.delete(res))
    return
  }
  if (url.pathname === '/new') {
    // An id of the service's length (22 characters of base64url).
    const event: SessionEvent = {
      seq: ++seq,
      type: 'created',
      id: randomBytes(16).toString('base64url'),
      user_id: Number(url.searchParams.get('user_id')),
      time: Date.now() / 1000,
      ip: url.searchParams.get('ip') ?? ''
    }
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
    res.end(JSON.stringify({ status: 'success', data: { id: event.id } }))
    setImmediate(fanOut, event)
    return
  }
  res.writeHead(404).end()
})

setInterval(() => {
  for (const res of streams) res.write(HEARTBEAT)
}, HEARTBEAT_MS).unref()

server.listen(port, '127.0.0.1', () => process.send?.('listening'))
// The bench's end is this process's end.
process.on('disconnect', () => process.exit(0))
