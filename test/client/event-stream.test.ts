// The client's text/event-stream parser, on the format's own cases (WHATWG HTML 9.2.6), fed in
// every way a network can cut it; and the connection that reads it, against a local stand-in.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { EventStream, SseParser, type SseEvent } from '../../client/src/event-stream.js'
import { startFakeService, type FakeService } from '../support/events-service.js'

/** What the parser makes of these chunks: events and comments in order, and the last id. */
function parse (chunks: Array<string | Uint8Array>): { seen: Array<SseEvent | string>, lastEventId: string } {
  const seen: Array<SseEvent | string> = []
  const parser = new SseParser((event) => seen.push(event), (text) => seen.push(`:${text}`))
  for (const chunk of chunks) parser.push(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk)
  return { seen, lastEventId: parser.lastEventId }
}

const STREAM = ': connected\n\nid: 7\nevent: revoked\ndata: {"seq":7,"id":"é"}\n\n: ping\n\nid: 8\nevent: reset\ndata: {"reason":"x"}\n\n'
const EXPECTED = [
  ':connected',
  { type: 'revoked', data: '{"seq":7,"id":"é"}', id: '7' },
  ':ping',
  { type: 'reset', data: '{"reason":"x"}', id: '8' }
]

describe('SseParser', () => {
  it('reads comments and events with their type, data and id', () => {
    expect(parse([STREAM])).toEqual({ seen: EXPECTED, lastEventId: '8' })
  })

  it('gives the same whatever the chunks: one byte at a time, a character cut in two, CRLF cut between CR and LF', () => {
    const bytes = new TextEncoder().encode(STREAM)
    expect(parse([...bytes].map((b) => Uint8Array.of(b))).seen).toEqual(EXPECTED)
    const crlf = STREAM.replaceAll('\n', '\r\n')
    expect(parse(crlf.split(/(?<=\r)/)).seen).toEqual(EXPECTED)
    expect(parse([STREAM.replaceAll('\n', '\r')]).seen).toEqual(EXPECTED)
  })

  it('follows the format: data lines joined, no space needed, a lone field name, `message` by default, ids kept, nothing without data', () => {
    const { seen, lastEventId } = parse([
      'data:one\ndata\ndata: two\n\n',
      'id: 3\n\n',
      'event: x\nretry: 10\nunknown: y\ndata: z\n\n',
      'id: a\0b\ndata: w\n\n',
      'data: unfinished'
    ])
    expect(seen).toEqual([
      { type: 'message', data: 'one\n\ntwo', id: '' },
      { type: 'x', data: 'z', id: '3' },
      { type: 'message', data: 'w', id: '3' }
    ])
    expect(lastEventId).toBe('3')
  })

  it('drops what a cut connection left unfinished, and keeps the last id', () => {
    const seen: SseEvent[] = []
    const parser = new SseParser((event) => seen.push(event), () => {})
    parser.push(new TextEncoder().encode('id: 1\ndata: a\n\nid: 2\nevent: revoked\ndata: {'))
    parser.restart()
    parser.push(new TextEncoder().encode('data: b\n\n'))
    expect(seen).toEqual([{ type: 'message', data: 'a', id: '1' }, { type: 'message', data: 'b', id: '1' }])
  })

  it('refuses a line that never ends', () => {
    const parser = new SseParser(() => {}, () => {})
    expect(() => { parser.push(new Uint8Array(2 << 20).fill(0x61)) }).toThrow(/longer than 1 MiB/)
  })
})

describe('EventStream', () => {
  let fake: FakeService | undefined
  let stream: EventStream | undefined
  afterEach(async () => {
    await stream?.close()
    await fake?.close()
  })

  function open (opts: { staleMs?: number } = {}): { events: SseEvent[], opened: boolean[] } {
    const seen = { events: [] as SseEvent[], opened: [] as boolean[] }
    stream = new EventStream({
      url: `${fake!.baseUrl}/events`,
      headers: { authorization: 'Bearer k' },
      fetch: async (url, init) => await fetch(url, init),
      staleMs: opts.staleMs ?? 10_000,
      onOpen: (resumed) => seen.opened.push(resumed),
      onEvent: (event) => seen.events.push(event)
    })
    return seen
  }

  it('connects with its headers, resumes after the last id once cut, and is not current while away', async () => {
    fake = await startFakeService()
    const seen = open()
    await vi.waitFor(() => { expect(stream!.current).toBe(true) })
    expect(fake.connections[0]).toMatchObject({ accept: 'text/event-stream', authorization: 'Bearer k' })
    expect(fake.connections[0]['last-event-id']).toBeUndefined()
    const s = fake.add()
    fake.emit('revoked', s)
    await vi.waitFor(() => { expect(stream!.lastEventId).toBe('1') })
    fake.drop()
    fake.emit('updated', s)
    await vi.waitFor(() => { expect(seen.events.map((e) => e.id)).toEqual(['1', '2']) })
    expect(fake.connections[1]['last-event-id']).toBe('1')
    expect(seen.opened).toEqual([false, true])
  })

  it('takes a silence of staleMs as a dead connection: not current, then connects again', async () => {
    fake = await startFakeService({ pingMs: 50 })
    open({ staleMs: 300 })
    await vi.waitFor(() => { expect(stream!.current).toBe(true) })
    fake.silence(true)
    const since = performance.now()
    await vi.waitFor(() => { expect(stream!.current).toBe(false) })
    expect(performance.now() - since).toBeLessThan(300 + 50 + 150)
    await vi.waitFor(() => { expect(fake!.connections.length).toBe(2) })
  })

  it('close ends the connection and any reconnecting', async () => {
    fake = await startFakeService({ eventsStatus: 503 })
    open()
    await vi.waitFor(() => { expect(fake!.connections.length).toBeGreaterThanOrEqual(2) })
    await stream!.close()
    const count = fake.connections.length
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(fake.connections.length).toBe(count)
    expect(stream!.current).toBe(false)
  })
})
