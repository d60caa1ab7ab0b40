// A client of GET /events for tests: the frames of an open stream as they come.
import type { SessionEvent } from '../../src/store/types.js'

export interface StreamEvent { id?: string, event?: string, data?: string, comment?: string }

/** An open stream of a listening app: its frames as they come. */
export interface Stream {
  status: number
  frames: StreamEvent[]
  /** Resolves once a frame matches, within `ms`. */
  until: (match: (frames: StreamEvent[]) => boolean, ms?: number) => Promise<void>
  close: () => void
}

export async function open (base: string, headers: Record<string, string> = {}, query = ''): Promise<Stream> {
  const controller = new AbortController()
  const res = await fetch(`${base}/events${query}`, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal })
  const frames: StreamEvent[] = []
  const waiters = new Set<() => void>()
  void (async () => {
    let text = ''
    const decoder = new TextDecoder()
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true })
        let end: number
        while ((end = text.indexOf('\n\n')) >= 0) {
          const frame: StreamEvent = {}
          for (const line of text.slice(0, end).split('\n')) {
            if (line.startsWith(':')) frame.comment = line.slice(1).trim()
            else {
              const i = line.indexOf(': ')
              const field = line.slice(0, i) as 'id' | 'event' | 'data'
              if (['id', 'event', 'data'].includes(field)) frame[field] = line.slice(i + 2)
            }
          }
          text = text.slice(end + 2)
          frames.push(frame)
          for (const w of waiters) w()
        }
      }
    } catch {}
  })()
  return {
    status: res.status,
    frames,
    until: async (match, ms = 5000) => await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (match(frames)) {
          waiters.delete(check)
          clearTimeout(timer)
          resolve()
        }
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`no such frame within ${ms} ms: ${JSON.stringify(frames)}`))
      }, ms)
      waiters.add(check)
      check()
    }),
    close: () => controller.abort()
  }
}

/** The events among the frames, of these users only. */
export function eventsOf (frames: StreamEvent[], users: number[]): SessionEvent[] {
  return frames.filter((f) => f.data !== undefined && f.event !== 'reset')
    .map((f) => JSON.parse(f.data!) as SessionEvent)
    .filter((e) => users.includes(e.user_id))
}
