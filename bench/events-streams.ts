// The idle subscribers of `npm run bench:events`: a process of its own (forked by
// events-subscribers.ts, told what to do over IPC) that holds N streams of GET /events on raw
// sockets, so that its CPU does not mix with the measuring process's. It notes when each `created`
// event reaches each stream (performance.timeOrigin + performance.now(), the clock the parent reads
// too), doing as little as it can per chunk.
import { request, type ClientRequest } from 'node:http'

/** What the parent asks. */
export type Command =
  | { cmd: 'open', url: string, count: number }
  | { cmd: 'close' }
  | { cmd: 'clock' }
  | { cmd: 'collect', ids: string[], timeoutMs: number }

/** What this process answers, one message per command. */
export type Reply =
  | { type: 'opened', open: number, failed: number, ms: number }
  | { type: 'closed' }
  | { type: 'clock', now: number }
  /** Per session id asked, each stream's arrival time of its `created` event (null: none came). */
  | { type: 'arrivals', arrivals: Record<string, Array<number | null>> }

/** Streams opened at once: a burst of a thousand connections overflows the listen backlog. */
const OPEN_BATCH = 100
const OPEN_TIMEOUT_MS = 30_000
const ID = /"id":"([^"]+)"/

const now = (): number => performance.timeOrigin + performance.now()

interface Stream {
  req: ClientRequest
  /** Text not yet ended by a blank line. */
  pending: string
}

let streams: Stream[] = []
/** The streams asked for by the last `open`: each one's index in the arrival times. */
let slots = 0
/** Session id -> arrival time per stream (NaN: not yet). */
const arrivals = new Map<string, Float64Array>()

/** Opens one stream; resolves once the service's `: connected` came on it, rejects on failure. */
function open (url: string, index: number): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const target = new URL('/events', url)
    const req = request({ host: target.hostname, port: target.port, path: target.pathname, agent: false, headers: { accept: 'text/event-stream' } })
    const stream: Stream = { req, pending: '' }
    let connected = false
    const timer = setTimeout(() => { req.destroy(new Error('not connected in time')) }, OPEN_TIMEOUT_MS)
    req.on('error', (err) => { clearTimeout(timer); if (!connected) reject(err) })
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        req.destroy()
        reject(new Error(`HTTP ${res.statusCode}`))
        return
      }
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        const at = now()
        const text = stream.pending + chunk
        const end = text.lastIndexOf('\n\n')
        if (end < 0) {
          stream.pending = text
          return
        }
        stream.pending = text.slice(end + 2)
        for (const block of text.slice(0, end).split('\n\n')) {
          if (block.startsWith('id:') && block.includes('\nevent: created\n')) {
            const id = ID.exec(block)?.[1]
            if (id !== undefined) arrivalsOf(id)[index] = at
          } else if (!connected && block === ': connected') {
            connected = true
            clearTimeout(timer)
            resolve(stream)
          }
        }
      })
    })
    req.end()
  })
}

function arrivalsOf (id: string): Float64Array {
  let times = arrivals.get(id)
  if (times === undefined) arrivals.set(id, times = new Float64Array(slots).fill(NaN))
  return times
}

async function openAll (url: string, count: number): Promise<Reply> {
  const started = performance.now()
  slots = count
  let failed = 0
  for (let from = 0; from < count; from += OPEN_BATCH) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(OPEN_BATCH, count - from) }, async (_, i) => await open(url, from + i)))
    for (const r of batch) {
      if (r.status === 'fulfilled') streams.push(r.value)
      else failed++
    }
  }
  return { type: 'opened', open: streams.length, failed, ms: performance.now() - started }
}

/** Waits until every stream has each id's event, or `timeoutMs`; then answers what came. */
async function collect (ids: string[], timeoutMs: number): Promise<Reply> {
  const until = performance.now() + timeoutMs
  const complete = (): boolean => ids.every((id) => arrivals.get(id)?.every((t) => !Number.isNaN(t)) === true)
  while (!complete() && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 50))
  const out: Record<string, Array<number | null>> = {}
  for (const id of ids) out[id] = Array.from(arrivals.get(id) ?? new Float64Array(slots).fill(NaN), (t) => (Number.isNaN(t) ? null : t))
  arrivals.clear()
  return { type: 'arrivals', arrivals: out }
}

function closeAll (): Reply {
  for (const s of streams) s.req.destroy()
  streams = []
  arrivals.clear()
  return { type: 'closed' }
}

async function answer (command: Command): Promise<Reply> {
  switch (command.cmd) {
    case 'open': return await openAll(command.url, command.count)
    case 'close': return closeAll()
    case 'clock': return { type: 'clock', now: now() }
    case 'collect': return await collect(command.ids, command.timeoutMs)
  }
}

process.on('message', (command: Command) => {
  answer(command).then((reply) => process.send!(reply), (err: Error) => {
    console.error(`events-streams: ${err.stack ?? err.message}`)
    process.exit(1)
  })
})
// The parent's end is this process's end.
process.on('disconnect', () => process.exit(0))
