// IPROTO_CALL requests, encoded straight into a reusable buffer, and their responses, decoded.
// msgpack-lite (what the driver uses) costs an allocation or more per value and re-encodes the
// procedure name on every call; the writer covers what the store sends (strings, integers, uuids,
// null, maps of those: /new's options, and arrays of all these: the calls of sessions.get_many
// and sessions.new_many) and leaves other maps (extra data) to msgpack-lite.
import { codec } from 'tarantool-driver/lib/msgpack-extensions.js'
import msgpack from 'msgpack-lite'
import { addExtension, Unpackr } from 'msgpackr'

const IPROTO_CALL = 0x0a
const IPROTO_CODE = 0x00
const IPROTO_SYNC = 0x01
const IPROTO_FUNCTION_NAME = 0x22
const IPROTO_TUPLE = 0x21
const MP_UUID = 0x02

// A uuid's text and its 16 bytes, both ways, for every token of every call. The uuid package's
// parse() and stringify() check the text against a regular expression each time (and its parse
// then slices it): 840 and 520 ns a token here, against 120 and 140 for these, which check as
// they go (a /get does one of each).
const HEX_VALUE = new Int8Array(128).fill(-1)
for (let i = 0; i < 16; i++) {
  HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(i)] = i
}
const BYTE_HEX = Array.from({ length: 256 }, (_, i) => (i + 0x100).toString(16).slice(1))
const DASH = 0x2d

/** The 16 bytes of a uuid's text (any case, with its four dashes); throws a TypeError if it is not one. */
export function uuidBytes (text: string): Uint8Array {
  const bytes = new Uint8Array(16)
  let ok = text.length === 36
  for (let i = 0, at = 0; ok && at < 16; i += 2) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      ok = text.charCodeAt(i) === DASH
      i++
    }
    const high = HEX_VALUE[text.charCodeAt(i)] ?? -1
    const low = HEX_VALUE[text.charCodeAt(i + 1)] ?? -1
    ok &&= high >= 0 && low >= 0
    bytes[at++] = (high << 4) | low
  }
  if (!ok) throw new TypeError(`Not a UUID: ${text}`)
  return bytes
}

/** The text of a uuid's 16 bytes, lower case. */
export function uuidText (bytes: Uint8Array): string {
  const h = BYTE_HEX
  return h[bytes[0]] + h[bytes[1]] + h[bytes[2]] + h[bytes[3]] + '-' + h[bytes[4]] + h[bytes[5]] + '-' +
    h[bytes[6]] + h[bytes[7]] + '-' + h[bytes[8]] + h[bytes[9]] + '-' +
    h[bytes[10]] + h[bytes[11]] + h[bytes[12]] + h[bytes[13]] + h[bytes[14]] + h[bytes[15]]
}

/** An argument to send as a Tarantool uuid (MessagePack extension 2). */
export class Uuid {
  readonly bytes: Uint8Array
  /** A uuid's text, or its 16 bytes. */
  constructor (value: string | Uint8Array) {
    this.bytes = typeof value === 'string' ? uuidBytes(value) : value
  }
}

// The encoded procedure names, each once.
const names = new Map<string, Buffer>()
function encodedName (name: string): Buffer {
  let buf = names.get(name)
  if (buf === undefined) {
    buf = msgpack.encode(name)
    names.set(name, buf)
  }
  return buf
}

/** Appends encoded requests to one growing buffer; `take()` hands them over for one socket write. */
export class RequestWriter {
  #buf = Buffer.allocUnsafe(16 * 1024)
  #at = 0

  /** Bytes waiting to be taken. */
  get length (): number {
    return this.#at
  }

  /** Encodes one IPROTO_CALL: `0xce len32 {code, sync} {function_name, tuple}`. */
  call (sync: number, name: string, args: unknown[]): void {
    const start = this.#at
    const nameBuf = encodedName(name)
    this.#reserve(17 + nameBuf.length)
    const b = this.#buf
    b[start] = 0xce
    // b[start + 1..4]: the length, once known
    b[start + 5] = 0x82
    b[start + 6] = IPROTO_CODE
    b[start + 7] = IPROTO_CALL
    b[start + 8] = IPROTO_SYNC
    b[start + 9] = 0xce
    b.writeUInt32BE(sync, start + 10)
    b[start + 14] = 0x82
    b[start + 15] = IPROTO_FUNCTION_NAME
    nameBuf.copy(b, start + 16)
    b[start + 16 + nameBuf.length] = IPROTO_TUPLE
    this.#at = start + 17 + nameBuf.length
    try {
      this.#array(args)
    } catch (err) {
      this.#at = start
      throw err
    }
    this.#buf.writeUInt32BE(this.#at - start - 5, start + 1)
  }

  /** Drops the requests written so far. */
  clear (): void {
    this.#at = 0
  }

  /** The requests written so far, in a buffer of their own; the writer starts afresh. */
  take (): Buffer {
    const out = Buffer.allocUnsafe(this.#at)
    this.#buf.copy(out, 0, 0, this.#at)
    this.#at = 0
    return out
  }

  #reserve (bytes: number): void {
    if (this.#at + bytes <= this.#buf.length) return
    const bigger = Buffer.allocUnsafe(Math.max(2 * this.#buf.length, this.#at + bytes))
    this.#buf.copy(bigger, 0, 0, this.#at)
    this.#buf = bigger
  }

  #array (values: unknown[]): void {
    if (values.length > 15) throw new RangeError('At most 15 arguments')
    this.#list(values)
  }

  #list (values: unknown[]): void {
    if (values.length > 0xffff) throw new RangeError('At most 65535 values in an array')
    this.#reserve(3)
    if (values.length < 16) {
      this.#buf[this.#at++] = 0x90 | values.length
    } else {
      this.#buf[this.#at++] = 0xdc
      this.#buf.writeUInt16BE(values.length, this.#at)
      this.#at += 2
    }
    for (const value of values) this.#value(value)
  }

  #value (value: unknown): void {
    if (value === null || value === undefined) {
      this.#reserve(1)
      this.#buf[this.#at++] = 0xc0
    } else if (typeof value === 'string') {
      this.#string(value)
    } else if (typeof value === 'number' && Number.isSafeInteger(value)) {
      this.#integer(value)
    } else if (value instanceof Uuid) {
      this.#uuid(value.bytes)
    } else if (Array.isArray(value)) {
      // The calls of sessions.get_many and new_many: arrays of arguments, tokens among them.
      this.#list(value)
    } else if (isFlatMap(value)) {
      this.#map(value)
    } else {
      // Maps (extra data, settings) and anything rarer: msgpack-lite, as the driver would.
      const encoded = msgpack.encode(value, { codec } as msgpack.EncoderOptions)
      this.#reserve(encoded.length)
      encoded.copy(this.#buf, this.#at)
      this.#at += encoded.length
    }
  }

  #map (value: Record<string, unknown>): void {
    const keys = Object.keys(value)
    this.#reserve(1)
    this.#buf[this.#at++] = 0x80 | keys.length
    for (const key of keys) {
      this.#string(key)
      this.#value(value[key])
    }
  }

  #string (value: string): void {
    const max = 5 + 3 * value.length
    this.#reserve(max)
    const b = this.#buf
    // Written after a 5-byte header gap, then moved up if a shorter header fits.
    const written = b.write(value, this.#at + 5, 'utf8')
    let header: number
    if (written < 32) {
      b[this.#at] = 0xa0 | written
      header = 1
    } else if (written < 0x100) {
      b[this.#at] = 0xd9
      b[this.#at + 1] = written
      header = 2
    } else if (written < 0x10000) {
      b[this.#at] = 0xda
      b.writeUInt16BE(written, this.#at + 1)
      header = 3
    } else {
      b[this.#at] = 0xdb
      b.writeUInt32BE(written, this.#at + 1)
      header = 5
    }
    if (header < 5) b.copy(b, this.#at + header, this.#at + 5, this.#at + 5 + written)
    this.#at += header + written
  }

  #integer (value: number): void {
    this.#reserve(9)
    const b = this.#buf
    if (value >= 0 && value < 0x80) {
      b[this.#at++] = value
    } else if (value >= 0 && value <= 0xffffffff) {
      b[this.#at] = 0xce
      b.writeUInt32BE(value, this.#at + 1)
      this.#at += 5
    } else if (value >= 0) {
      b[this.#at] = 0xcf
      b.writeBigUInt64BE(BigInt(value), this.#at + 1)
      this.#at += 9
    } else if (value >= -0x80000000) {
      b[this.#at] = 0xd2
      b.writeInt32BE(value, this.#at + 1)
      this.#at += 5
    } else {
      b[this.#at] = 0xd3
      b.writeBigInt64BE(BigInt(value), this.#at + 1)
      this.#at += 9
    }
  }

  #uuid (bytes: Uint8Array): void {
    this.#reserve(18)
    this.#buf[this.#at] = 0xd8
    this.#buf[this.#at + 1] = MP_UUID
    this.#buf.set(bytes, this.#at + 2)
    this.#at += 18
  }
}

/**
 * A plain object of at most 15 keys whose values are null, undefined (sent as nil), strings or
 * safe integers: what the writer encodes as a map itself.
 */
function isFlatMap (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return false
  let keys = 0
  for (const key in value) {
    if (!Object.hasOwn(value, key)) return false
    const v = (value as Record<string, unknown>)[key]
    if (!(v === null || v === undefined || typeof v === 'string' || (typeof v === 'number' && Number.isSafeInteger(v)))) return false
    if (++keys > 15) return false
  }
  return true
}

const IPROTO_DATA = 0x30
const IPROTO_ERROR_24 = 0x31
const MP_EXT_UUID = 2

/** One response: the call's sync, and its values or Tarantool's error message and code. */
export interface Response {
  sync: number
  data?: unknown[]
  error?: string
  /** The error's code (errcode.h), from the response type 0x8000 | code. */
  errorCode?: number
}

// Uuids (the tokens) come back as their text; large unsigned integers as numbers (user ids are at
// most 2^53 - 1), as msgpack-lite gave them.
addExtension({ type: MP_EXT_UUID, unpack: uuidText })
const unpackr = new Unpackr({ mapsAsObjects: true, int64AsType: 'number', useRecords: false })

/**
 * Splits what Tarantool sends into responses (`0xce len32 {header} {body}`), across and within
 * socket chunks, and decodes them with msgpackr, which decodes a response about twice as fast as
 * msgpack-lite. A response larger than a chunk is collected and joined once it is whole, so a
 * long list costs one copy, not one per chunk. Throws on a stream that is not IPROTO: the
 * connection is then unusable.
 */
export class ResponseReader {
  // The start of a response not yet whole: its chunks, their size, and the size it needs
  // (0 while its 5-byte length prefix is incomplete).
  #parts: Buffer[] = []
  #size = 0
  #needed = 0

  /** Takes a chunk; calls `onResponse` for each response it completes. */
  push (chunk: Buffer, onResponse: (response: Response) => void): void {
    let buf = chunk
    if (this.#parts.length > 0) {
      this.#parts.push(chunk)
      this.#size += chunk.length
      if (this.#needed === 0 && this.#size >= 5) this.#needed = 5 + frameLength(Buffer.concat(this.#parts, 5), 0)
      if (this.#needed === 0 || this.#size < this.#needed) return
      buf = Buffer.concat(this.#parts, this.#size)
      this.#parts = []
      this.#size = 0
      this.#needed = 0
    }
    let at = 0
    while (buf.length - at >= 5) {
      const length = frameLength(buf, at)
      if (buf.length - at - 5 < length) break
      const [header, body] = unpackr.unpackMultiple(buf.subarray(at + 5, at + 5 + length)) as [Record<number, number>, Record<number, unknown> | undefined]
      at += 5 + length
      const sync = header[IPROTO_SYNC]
      if (header[IPROTO_CODE] === 0) onResponse({ sync, data: (body?.[IPROTO_DATA] ?? []) as unknown[] })
      else onResponse({ sync, errorCode: header[IPROTO_CODE] & 0x7fff, error: String((body?.[IPROTO_ERROR_24] as string | undefined) ?? `Tarantool error 0x${header[IPROTO_CODE].toString(16)}`) })
    }
    if (at < buf.length) {
      // Kept apart from the chunk, which may be large and mostly read.
      const rest = Buffer.from(buf.subarray(at))
      this.#parts = [rest]
      this.#size = rest.length
      this.#needed = rest.length >= 5 ? 5 + frameLength(rest, 0) : 0
    }
  }
}

/** The length after the 5-byte prefix of the response at `at`. */
function frameLength (buf: Buffer, at: number): number {
  if (buf[at] !== 0xce) throw new Error(`Not an IPROTO response: byte 0x${buf[at].toString(16)}`)
  return buf.readUInt32BE(at + 1)
}

/**
 * The error code (errcode.h) of the response whose header starts at `offset`, 0 for a success,
 * undefined when it cannot be read. For the login's answer, which tarantool-driver reads and turns
 * into an error with Tarantool's message only.
 */
export function responseErrorCode (buf: Buffer, offset: number): number | undefined {
  let code: number | undefined
  try {
    // The header only: what follows may be another response, or part of one.
    unpackr.unpackMultiple(buf.subarray(offset), (header: unknown) => {
      const type = (header as Record<number, unknown> | null)?.[IPROTO_CODE]
      if (typeof type === 'number') code = type & 0x7fff
      return false
    })
  } catch {}
  return code
}
