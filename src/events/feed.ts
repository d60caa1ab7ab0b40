// The events of one service process: a single long poll of Tarantool (sessions.events_wait),
// whatever the number of subscribers, whose answers go to every stream of GET /events as
// preformatted Server-Sent Events. A stream that resumes from an event reads the events it missed
// from a ring of the recent ones, or from Tarantool's pages when older, then joins the live ones:
// none missed, none twice.
import type { FastifyBaseLogger } from 'fastify'
import type { SessionsStore } from '../store/sessions-store.js'
import type { EventPage, StoredEvent } from '../store/types.js'
import { formatEvent, formatReset, HEARTBEAT } from './sse.js'

/** Where a stream writes; false from write() when its socket's buffer is full. */
export interface Sink {
  write: (chunk: string) => boolean
  end: () => void
}

interface Subscriber {
  sink: Sink
  /** The seq of the last event it was sent (or skipped past by a reset). */
  position: number
  /** Whether it gets the live events (it has caught up). */
  live: boolean
}

export interface FeedOptions {
  /** How long one events_wait call waits for an event, in seconds (less than the call timeout). */
  waitSeconds: number
  /** Most recent events kept in memory for streams that resume. */
  ringSize?: number
  /** How often an idle stream gets a comment, in ms. */
  heartbeatMs?: number
  /** The most a stream may have unsent before it is closed (a client that does not read). */
  maxBufferedBytes?: number
}

const RING_SIZE = 10_000
// "At least every 5 s" (the docs): 4 s, so that a timer's lateness never makes it 5.
const HEARTBEAT_MS = 4000
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024
const RETRY_MS = 250

export class EventFeed {
  readonly #store: SessionsStore
  readonly #log: FastifyBaseLogger
  readonly #opts: Required<FeedOptions>
  readonly #subscribers = new Set<Subscriber>()
  // Every committed event with seq in (#ringFrom, #position] is in #ring, in order.
  #ring: Array<{ seq: number, chunk: string }> = []
  #ringFrom = 0
  #position = 0
  #running: Promise<void> | undefined
  #started: Promise<void> | undefined
  // When Tarantool last answered the long poll (performance.now()), and whether it is failing.
  #heard = 0
  #failing = false
  #heartbeat: NodeJS.Timeout | undefined
  #closed = false

  constructor (store: SessionsStore, log: FastifyBaseLogger, opts: FeedOptions) {
    this.#store = store
    this.#log = log
    this.#opts = { ringSize: RING_SIZE, heartbeatMs: HEARTBEAT_MS, maxBufferedBytes: MAX_BUFFERED_BYTES, ...opts }
  }

  /** Streams open now. */
  get subscribers (): number {
    return this.#subscribers.size
  }

  /**
   * Adds a stream from the event after `after` (its Last-Event-ID), or from now. Resolves once it
   * has caught up and gets the live events; rejects when Tarantool cannot be read (the caller ends
   * the stream). A position Tarantool no longer keeps, or never gave, gets `reset` first.
   */
  async subscribe (sink: Sink, after: number | undefined): Promise<() => void> {
    const sub: Subscriber = { sink, position: 0, live: false }
    this.#subscribers.add(sub)
    const remove = (): void => { this.#remove(sub) }
    try {
      await this.#start()
      sub.position = after ?? this.#position
      if (after !== undefined && after > this.#position) {
        // Ahead of this process: newer than what it has read, or an id this Tarantool never gave.
        const page = await this.#newest()
        if (after > page.newest) this.#reset(sub, 'unknown_position')
      }
      // Older than the ring: from Tarantool's pages, until the ring covers the rest.
      while (sub.position < this.#ringFrom && !this.#closed) {
        const page = await this.#store.eventsPage(sub.position, 1000)
        if (sub.position + 1 < page.oldest) {
          this.#reset(sub, 'expired_position')
          break
        }
        if (page.events.length === 0) {
          // None committed after it up to page.newest, which is at least #ringFrom: the ring goes on.
          sub.position = Math.max(sub.position, Math.min(page.newest, this.#ringFrom))
          if (sub.position < this.#ringFrom) this.#reset(sub, 'unknown_position')
          break
        }
        for (const event of page.events) this.#send(sub, event.seq, formatEvent(event))
      }
      // The rest from the ring, then live: in the same turn, so that nothing comes in between.
      for (const { seq, chunk } of this.#ring) {
        if (seq > sub.position) this.#send(sub, seq, chunk)
      }
      if (sub.position < this.#position) sub.position = this.#position
      sub.live = true
      sink.write(': connected\n\n')
    } catch (err) {
      remove()
      throw err
    }
    return remove
  }

  /** Ends every stream and the long poll. */
  close (): void {
    this.#closed = true
    clearInterval(this.#heartbeat)
    for (const sub of this.#subscribers) sub.sink.end()
    this.#subscribers.clear()
  }

  #remove (sub: Subscriber): void {
    this.#subscribers.delete(sub)
    if (this.#subscribers.size === 0) {
      clearInterval(this.#heartbeat)
      this.#heartbeat = undefined
    }
  }

  // Where Tarantool's events stand: its newest committed seq (in any page's answer).
  #newest (): Promise<EventPage> {
    return this.#store.eventsPage(0, 1)
  }

  // Knows where Tarantool's events stand and runs the long poll while anyone listens.
  #start (): Promise<void> {
    this.#heartbeat ??= setInterval(() => { this.#beat() }, this.#opts.heartbeatMs)
    if (this.#running !== undefined) return this.#started ?? Promise.resolve()
    this.#started = this.#newest().then((page) => {
      // A feed that stopped knows nothing of what happened since: the ring starts again.
      this.#position = this.#ringFrom = page.newest
      this.#ring = []
      this.#heard = performance.now()
    })
    this.#running = this.#started.then(() => this.#run()).finally(() => {
      this.#running = undefined
      this.#started = undefined
    })
    // A failed start ends the poll; the next subscriber starts it again.
    this.#running.catch(() => {})
    return this.#started
  }

  async #run (): Promise<void> {
    while (this.#subscribers.size > 0 && !this.#closed) {
      let page: EventPage
      try {
        page = await this.#store.eventsWait(this.#position, this.#opts.waitSeconds)
      } catch (err) {
        if (!this.#failing) this.#log.warn({ err }, 'could not read session events from Tarantool; trying again')
        this.#failing = true
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS))
        continue
      }
      if (this.#failing) this.#log.info('reading session events from Tarantool again')
      this.#failing = false
      this.#heard = performance.now()
      if (page.newest < this.#position) {
        // Tarantool is behind what this process read: restored from a backup, or another one.
        this.#position = this.#ringFrom = page.newest
        this.#ring = []
        for (const sub of this.#subscribers) {
          if (sub.live) this.#reset(sub, 'unknown_position')
        }
        continue
      }
      this.#publish(page.events)
    }
  }

  // The events of one answer of Tarantool, in one write a stream: a sign-out of thousands of
  // sessions is thousands of events, and each write is a system call (about 20 µs a stream).
  #publish (events: StoredEvent[]): void {
    const fresh = events.filter((event) => event.seq > this.#position)
    if (fresh.length === 0) return
    const chunks = fresh.map((event) => ({ seq: event.seq, chunk: formatEvent(event) }))
    const first = chunks[0].seq
    const last = chunks[chunks.length - 1].seq
    this.#position = last
    this.#ring.push(...chunks)
    if (this.#ring.length > this.#opts.ringSize) {
      const dropped = this.#ring.splice(0, this.#ring.length - this.#opts.ringSize)
      this.#ringFrom = dropped[dropped.length - 1].seq
    }
    const all = chunks.length === 1 ? chunks[0].chunk : chunks.map((c) => c.chunk).join('')
    for (const sub of this.#subscribers) {
      if (!sub.live) continue
      // One that has some of them already (it read them from Tarantool while catching up) gets the rest.
      if (sub.position < first) this.#send(sub, last, all)
      else for (const { seq, chunk } of chunks) this.#send(sub, seq, chunk)
    }
  }

  #send (sub: Subscriber, seq: number, chunk: string): void {
    if (seq <= sub.position) return
    sub.position = seq
    if (!sub.sink.write(chunk) && this.#buffered(sub) > this.#opts.maxBufferedBytes) {
      // A client that does not read: closed, it resumes from its Last-Event-ID when it comes back.
      this.#remove(sub)
      sub.sink.end()
    }
  }

  #buffered (sub: Subscriber): number {
    return (sub.sink as Sink & { writableLength?: number }).writableLength ?? 0
  }

  // `reset`: the stream's client drops what it cached and goes on from the newest event.
  #reset (sub: Subscriber, reason: string): void {
    sub.position = this.#position
    sub.sink.write(formatReset(this.#position, reason))
  }

  // A comment to every live stream, while Tarantool's events are being read: a client that hears
  // nothing for twice the heartbeat knows it may have missed events.
  #beat (): void {
    const fresh = performance.now() - this.#heard < (this.#opts.waitSeconds * 1000) + this.#opts.heartbeatMs
    if (this.#failing || !fresh) return
    for (const sub of this.#subscribers) {
      if (sub.live) sub.sink.write(HEARTBEAT)
    }
  }
}
