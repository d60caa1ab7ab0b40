// Server-Sent Events: a parser of the text/event-stream format (WHATWG HTML, "Server-sent events",
// 9.2.6 "Interpreting an event stream"), and the connection to GET /events that stays open: it
// reconnects with backoff and Last-Event-ID, and tells whether it is current (caught up, and heard
// from lately). Written here rather than taken from npm because the package has no dependencies
// and the format takes a page.
import { backoffMs } from './backoff.js'
import type { FetchLike } from './client.js'

/** An event as the stream dispatched it. */
export interface SseEvent {
  /** The `event:` field; `message` when there was none. */
  type: string
  /** The `data:` lines, joined by newlines. */
  data: string
  /** The last `id:` seen on the stream so far (this event's, when it had one). */
  id: string
}

/** Longest line the parser holds while waiting for its end: a peer that never ends one is cut off. */
const MAX_LINE = 1 << 20

/** Reads the text/event-stream format from chunks of bytes, in whatever pieces they come. */
export class SseParser {
  /** The last event id of the stream, as Last-Event-ID sends it back ('' while none). */
  lastEventId = ''
  readonly #onEvent: (event: SseEvent) => void
  readonly #onComment: (text: string) => void
  readonly #decoder = new TextDecoder('utf-8')
  #buffer = ''
  #type = ''
  #data: string[] = []
  #idBuffer = ''
  /** A chunk ended with CR: a LF at the start of the next one belongs to it. */
  #afterCr = false

  constructor (onEvent: (event: SseEvent) => void, onComment: (text: string) => void) {
    this.#onEvent = onEvent
    this.#onComment = onComment
  }

  /** Starts a new connection's text: what the last one left unfinished is dropped; the last event id stays. */
  restart (): void {
    this.#decoder.decode()
    this.#buffer = ''
    this.#type = ''
    this.#data = []
    this.#idBuffer = this.lastEventId
    this.#afterCr = false
  }

  /** Parses the next chunk; throws when a line grows past 1 MiB. */
  push (chunk: Uint8Array): void {
    let text = this.#decoder.decode(chunk, { stream: true })
    if (this.#afterCr && text.startsWith('\n')) text = text.slice(1)
    this.#afterCr = text.endsWith('\r')
    this.#buffer += text
    const lines = this.#buffer.split(/\r\n|\r|\n/)
    this.#buffer = lines.pop() ?? ''
    if (this.#buffer.length > MAX_LINE) throw new Error('event stream: a line longer than 1 MiB')
    for (const line of lines) this.#line(line)
  }

  #line (line: string): void {
    if (line === '') {
      this.#dispatch()
      return
    }
    if (line.startsWith(':')) {
      this.#onComment(line.slice(1).replace(/^ /, ''))
      return
    }
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
    switch (field) {
      case 'event': this.#type = value; break
      case 'data': this.#data.push(value); break
      case 'id': if (!value.includes('\0')) this.#idBuffer = value; break
      // `retry` is not followed: the connection has its own backoff. Other fields are ignored.
    }
  }

  #dispatch (): void {
    // The id sticks even to an event without data, as the format says.
    this.lastEventId = this.#idBuffer
    const type = this.#type === '' ? 'message' : this.#type
    const data = this.#data
    this.#type = ''
    this.#data = []
    if (data.length > 0) this.#onEvent({ type, data: data.join('\n'), id: this.lastEventId })
  }
}

export interface EventStreamOptions {
  url: string
  /** Sent with every connection (the API key); Accept and Last-Event-ID are added. */
  headers: Record<string, string>
  fetch: FetchLike
  /** Longest silence (no byte at all) after which the stream is not current and is reconnected. */
  staleMs: number
  /** A connection has caught up (`: connected`); `resumed`: it was asked to go on after a known event. */
  onOpen: (resumed: boolean) => void
  onEvent: (event: SseEvent) => void
}

/**
 * The service's stream of events, kept open: connects at once, and after any failure or silence of
 * `staleMs` connects again (backoff as the client's retries) with `Last-Event-ID` set to the last
 * event id received, until closed. A connection counts from the service's `: connected`, which it
 * writes once the stream is live: after the events a resumed stream missed, and after the point
 * from which a new one is sent everything. Before it, an answer of /get could describe a change
 * the stream will never carry, or the events missed could still be on their way.
 */
export class EventStream {
  readonly #opts: EventStreamOptions
  readonly #parser: SseParser
  readonly #running: Promise<void>
  #connected = false
  /** Whether the connection being made asked to go on after an event. */
  #resumed = false
  #heardAt = 0
  #closed = false
  #abort: AbortController | undefined
  #wake: (() => void) | undefined

  constructor (opts: EventStreamOptions) {
    this.#opts = opts
    this.#parser = new SseParser(opts.onEvent, (text) => { this.#comment(text) })
    this.#running = this.#run()
  }

  /** The last event id received ('' while none). */
  get lastEventId (): string {
    return this.#parser.lastEventId
  }

  /** Whether a connection has caught up and anything (event or comment) came on it within `staleMs`. */
  get current (): boolean {
    return this.#connected && performance.now() - this.#heardAt <= this.#opts.staleMs
  }

  /** Ends the connection, or the wait before the next one, for good. */
  async close (): Promise<void> {
    this.#closed = true
    this.#abort?.abort()
    this.#wake?.()
    await this.#running
  }

  #comment (text: string): void {
    if (text !== 'connected' || this.#connected) return
    this.#connected = true
    this.#opts.onOpen(this.#resumed)
  }

  async #run (): Promise<void> {
    for (let failures = 0; !this.#closed;) {
      if (await this.#connect()) failures = 0
      if (this.#closed) return
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoffMs(++failures))
        this.#wake = () => { clearTimeout(timer); resolve() }
      })
    }
  }

  /** One connection, read until it ends, fails or falls silent; whether it caught up (then the backoff starts again). */
  async #connect (): Promise<boolean> {
    const abort = new AbortController()
    this.#abort = abort
    const watchdog = setTimeout(() => { abort.abort() }, this.#opts.staleMs)
    const resumeFrom = this.#parser.lastEventId
    let caughtUp = false
    const headers = { ...this.#opts.headers, accept: 'text/event-stream', ...(resumeFrom === '' ? {} : { 'last-event-id': resumeFrom }) }
    try {
      const res = await this.#opts.fetch(this.#opts.url, { method: 'GET', headers, signal: abort.signal })
      const type = res.headers?.get('content-type') ?? ''
      if (res.status !== 200 || !type.startsWith('text/event-stream') || res.body == null) {
        await res.text().catch(() => {})
        return false
      }
      this.#parser.restart()
      this.#resumed = resumeFrom !== ''
      for await (const chunk of res.body) {
        this.#heardAt = performance.now()
        watchdog.refresh()
        this.#parser.push(chunk)
      }
    } catch {
      // Refused, reset, silent too long (the watchdog), or closed: connect again unless closed.
    } finally {
      caughtUp = this.#connected
      this.#connected = false
      clearTimeout(watchdog)
      abort.abort()
    }
    return caughtUp
  }
}
