// The request encoder against msgpack-lite's decoder, every kind of value the store sends; the
// response reader against responses framed as Tarantool sends them.
import { randomBytes } from 'node:crypto'
import msgpack from 'msgpack-lite'
import { NIL, parse, stringify, v4 } from 'uuid'
import { describe, expect, it } from 'vitest'
import { RequestWriter, ResponseReader, Uuid, responseErrorCode, uuidBytes, uuidText, type Response } from '../../src/store/iproto.js'

const UUID = '61494096-9af7-49ba-9fb4-e89c0811e6d3'

/** Splits the writer's output into requests: [header, body] each. */
function decode (buf: Buffer): Array<[unknown, unknown]> {
  const out: Array<[unknown, unknown]> = []
  let at = 0
  while (at < buf.length) {
    expect(buf[at]).toBe(0xce)
    const length = buf.readUInt32BE(at + 1)
    const decoder = msgpack.createDecodeStream()
    const values: unknown[] = []
    decoder.on('data', (v: unknown) => values.push(v))
    decoder.write(buf.subarray(at + 5, at + 5 + length))
    out.push(values as [unknown, unknown])
    at += 5 + length
  }
  return out
}

describe('RequestWriter', () => {
  it('encodes IPROTO_CALL with the sync, the name and the arguments', () => {
    const writer = new RequestWriter()
    writer.call(7, 'sessions.get', ['192.0.2.1', null, 42])
    expect(decode(writer.take())).toEqual([[{ 0: 0x0a, 1: 7 }, { 0x22: 'sessions.get', 0x21: ['192.0.2.1', null, 42] }]])
    expect(writer.length).toBe(0)
  })

  it('encodes maps of strings, integers and nulls itself, and any other map as msgpack-lite does', () => {
    const flat = { ttl: null, lifetime: 86_400, extra_max_bytes: 2048, limit_policy: 'evict_oldest', gone: undefined, big: 2 ** 40, neg: -3 }
    const nested = { device: 'phone', seen: [1, 2], nested: { a: 1.5 } }
    const writer = new RequestWriter()
    writer.call(3, 'sessions.new', [flat, nested, {}])
    expect(decode(writer.take())[0][1]).toEqual({ 0x22: 'sessions.new', 0x21: [{ ...flat, gone: null }, nested, {}] })
  })

  it('encodes strings of every length class, and multi-byte text', () => {
    const strings = ['', 'a'.repeat(31), 'b'.repeat(32), 'c'.repeat(255), 'd'.repeat(256), 'e'.repeat(70_000), 'ключ 🔑']
    const writer = new RequestWriter()
    writer.call(1, 'f', strings)
    expect(decode(writer.take())[0][1]).toEqual({ 0x22: 'f', 0x21: strings })
  })

  it('encodes integers as integers, large ones too', () => {
    const ints = [0, 127, 128, 0xffffffff, 2 ** 32, Number.MAX_SAFE_INTEGER, -1, -(2 ** 31), -(2 ** 40)]
    const writer = new RequestWriter()
    writer.call(1, 'f', ints)
    const buf = writer.take()
    const args = (decode(buf)[0][1] as Record<number, unknown[]>)[0x21]
    expect(args.map(Number)).toEqual(ints)
    // No float64 (0xcb) anywhere: Tarantool's unsigned fields refuse doubles.
    expect(buf.includes(0xcb)).toBe(false)
  })

  it('encodes a uuid as extension 2 with its 16 bytes, and refuses what is not one', () => {
    const writer = new RequestWriter()
    writer.call(1, 'f', [new Uuid(UUID)])
    const buf = writer.take()
    const at = buf.indexOf(0xd8)
    expect(buf[at + 1]).toBe(2)
    expect(buf.subarray(at + 2, at + 18).toString('hex')).toBe(UUID.replace(/-/g, ''))
    expect(() => new Uuid('61494096-9af7-49ba-9fb4-e89c0811e6dz')).toThrow(TypeError)
  })

  it('reads and writes a uuid\'s text as the uuid package does, and refuses what is not one', () => {
    for (let i = 0; i < 500; i++) {
      const text = v4()
      expect(uuidBytes(text)).toEqual(parse(text))
      expect(uuidText(uuidBytes(text))).toBe(stringify(parse(text)))
    }
    // Any 16 bytes, not only what the uuid package takes for a uuid (RFC versions and variants).
    for (let i = 0; i < 500; i++) {
      const hex = randomBytes(16).toString('hex')
      const text = [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-')
      expect(Buffer.from(uuidBytes(text.toUpperCase())).toString('hex')).toBe(hex)
      expect(uuidText(uuidBytes(text))).toBe(text)
    }
    expect(uuidText(new Uint8Array(16))).toBe(NIL)
    for (const text of [
      '', UUID.slice(1), UUID + '0', UUID.replace(/-/g, '') + '0000', UUID.replace('-', '0'),
      '6149409-69af7-49ba-9fb4-e89c0811e6d0', UUID.replace('a', 'g'), UUID.replace('a', ' '),
      UUID.replace('a', '\u0661'), UUID.replace('a', '\u0161'), UUID.replace('a', '\u{1F600}').slice(0, 36)
    ]) {
      expect(() => uuidBytes(text), text).toThrow(TypeError)
    }
  })

  it('encodes maps through msgpack-lite, and keeps several calls apart', () => {
    const writer = new RequestWriter()
    writer.call(1, 'a', [{ x: 1, nested: { y: [1, 'two'] } }])
    writer.call(2, 'b', [])
    expect(decode(writer.take())).toEqual([
      [{ 0: 0x0a, 1: 1 }, { 0x22: 'a', 0x21: [{ x: 1, nested: { y: [1, 'two'] } }] }],
      [{ 0: 0x0a, 1: 2 }, { 0x22: 'b', 0x21: [] }]
    ])
  })

  it('leaves nothing behind from a call it could not encode', () => {
    const writer = new RequestWriter()
    writer.call(1, 'a', [1])
    const before = writer.length
    expect(() => writer.call(2, 'b', new Array(16).fill(0))).toThrow(RangeError)
    expect(writer.length).toBe(before)
  })
})

/** A response as Tarantool frames it: `0xce len32 {code, sync} {body}`. */
function frame (sync: number, code: number, body: Buffer): Buffer {
  const header = msgpack.encode({ 0: code, 1: sync })
  const size = Buffer.alloc(5)
  size[0] = 0xce
  size.writeUInt32BE(header.length + body.length, 1)
  return Buffer.concat([size, header, body])
}

// A tuple as the sessions space holds it: uuid token (extension 2), a user id above 2^32, text.
const TUPLE_BODY = Buffer.concat([
  Buffer.from([0x81, 0x30, 0x91, 0x93, 0xd8, 0x02]), Buffer.from(UUID.replace(/-/g, ''), 'hex'),
  Buffer.from([0xcf]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(2n ** 53n - 1n); return b })(),
  msgpack.encode('192.0.2.1')
])

describe('ResponseReader', () => {
  it('decodes values and errors, whatever the chunks', () => {
    const stream = Buffer.concat([
      frame(1, 0, TUPLE_BODY),
      frame(2, 0x8000 | 7, msgpack.encode({ 0x31: "Can't modify data on a read-only instance" })),
      frame(3, 0, msgpack.encode({ 0x30: [null, { code: 'token_not_found', message: 'Token not found' }] }))
    ])
    const expected: Response[] = [
      { sync: 1, data: [[UUID, 2 ** 53 - 1, '192.0.2.1']] },
      { sync: 2, errorCode: 7, error: "Can't modify data on a read-only instance" },
      { sync: 3, data: [null, { code: 'token_not_found', message: 'Token not found' }] }
    ]
    // Whole, then cut at every byte into two chunks, then byte by byte.
    const cuts = [[stream], ...Array.from({ length: stream.length - 1 }, (_, i) => [stream.subarray(0, i + 1), stream.subarray(i + 1)]),
      Array.from(stream, (byte) => Buffer.from([byte]))]
    for (const chunks of cuts) {
      const reader = new ResponseReader()
      const got: Response[] = []
      for (const chunk of chunks) reader.push(chunk, (r) => got.push(r))
      expect(got).toEqual(expected)
    }
  })

  it('refuses a stream that is not IPROTO', () => {
    expect(() => new ResponseReader().push(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'), () => {})).toThrow(/Not an IPROTO response/)
  })
})

describe('responseErrorCode', () => {
  it('reads the error code from a response header, whatever follows it', () => {
    const loading = frame(5, 0x8000 | 116, msgpack.encode({ 0x31: "Instance bootstrap hasn't finished yet" }))
    // At the header, after the 5-byte length, as tarantool-driver hands it over.
    expect(responseErrorCode(loading, 5)).toBe(116)
    expect(responseErrorCode(Buffer.concat([loading, loading.subarray(0, 7)]), 5)).toBe(116)
    expect(responseErrorCode(frame(6, 0x8000 | 47, msgpack.encode({ 0x31: 'User not found or supplied credentials are invalid' })), 5)).toBe(47)
    expect(responseErrorCode(frame(7, 0, msgpack.encode({})), 5)).toBe(0)
    expect(responseErrorCode(Buffer.from([0xce, 0, 0, 0, 1, 0xc1]), 5)).toBeUndefined()
  })
})
