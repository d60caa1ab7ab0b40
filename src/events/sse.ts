// Server-Sent Events as GET /events writes them (https://html.spec.whatwg.org/multipage/server-sent-events.html):
// each event's seq as its `id` (what a client sends back as Last-Event-ID), its type as `event`,
// and the event as one line of JSON in `data`.
import type { StoredEvent } from '../store/types.js'

/** What a stream gets when nothing else was sent for a while: a comment, which clients ignore. */
export const HEARTBEAT = ': ping\n\n'

/** How long a client waits before it reconnects, in ms: sent once, first. */
export const RETRY = 'retry: 1000\n\n'

export function formatEvent (event: StoredEvent): string {
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`
}

/** The stream goes on from `seq`, but what came before it is not known: drop every cache. */
export function formatReset (seq: number, reason: string): string {
  return `id: ${seq}\nevent: reset\ndata: ${JSON.stringify({ seq, type: 'reset', reason })}\n\n`
}
