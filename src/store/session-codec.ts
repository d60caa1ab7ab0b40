// Session ids and list cursors, both keyed by the instance's secret (tarantool/sessions/secret.lua).
//
// A session id is its stored key (the token, or the token's hash: tarantool/sessions/keys.lua)
// encrypted with AES-128 as one block: a permutation of 16 bytes, so an id names one session and
// turns back into its key without an index, and nobody without the secret can compute a token
// from an id. A cursor is the position of a page's last session (its activity and id) with an
// HMAC over the list it belongs to, so a tampered cursor, or one from another list, is refused.
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual, type Cipheriv, type Decipheriv } from 'node:crypto'

/** Which list a cursor walks: a user's sessions or an address's, by its key. */
export interface ListName {
  kind: 'user' | 'ip'
  key: string
}

/** Where a page ends: the stored activity and key of its last session, as the indexes order them. */
export interface Position {
  activity: number
  key: Uint8Array
}

const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/
const CURSOR_PATTERN = /^[A-Za-z0-9_-]{43}$/
const TAG_BYTES = 12

export class SessionCodec {
  // ECB has no state between blocks: one cipher serves every id, without padding, never final()-ed.
  readonly #encrypt: Cipheriv
  readonly #decrypt: Decipheriv
  readonly #macKey: Buffer

  /** `secret`: the instance's secret, 64 hex digits. */
  constructor (secret: string) {
    const master = Buffer.from(secret, 'hex')
    if (master.length !== 32) throw new Error('The Tarantool secret must be 32 bytes as hex')
    const idKey = createHmac('sha256', master).update('session id').digest().subarray(0, 16)
    this.#macKey = createHmac('sha256', master).update('list cursor').digest()
    this.#encrypt = createCipheriv('aes-128-ecb', idKey, null).setAutoPadding(false)
    this.#decrypt = createDecipheriv('aes-128-ecb', idKey, null).setAutoPadding(false)
  }

  /** The id of the session stored under this key. */
  id (key: Uint8Array): string {
    return this.#encrypt.update(key).toString('base64url')
  }

  /** The stored key a session id names; undefined for what cannot be an id. */
  key (id: string): Uint8Array | undefined {
    if (!ID_PATTERN.test(id)) return undefined
    const bytes = Buffer.from(id, 'base64url')
    // 22 characters carry 132 bits: the last 4 must be zero, so each id has one spelling.
    if (bytes.length !== 16 || bytes.toString('base64url') !== id) return undefined
    const key = this.#decrypt.update(bytes)
    // Tarantool refuses a uuid of the reserved variant (111x): no session can have such a key.
    return (key[8] & 0xe0) === 0xe0 ? undefined : key
  }

  /** The cursor of the page after `position` in `list`. */
  cursor (list: ListName, position: Position): string {
    const payload = Buffer.alloc(20)
    payload.writeUInt32BE(position.activity, 0)
    this.#encrypt.update(position.key).copy(payload, 4)
    return Buffer.concat([payload, this.#tag(list, payload)]).toString('base64url')
  }

  /** The position a cursor of `list` holds; undefined if it is malformed, altered or another list's. */
  position (list: ListName, cursor: string): Position | undefined {
    if (!CURSOR_PATTERN.test(cursor)) return undefined
    const bytes = Buffer.from(cursor, 'base64url')
    if (bytes.length !== 20 + TAG_BYTES || bytes.toString('base64url') !== cursor) return undefined
    const payload = bytes.subarray(0, 20)
    if (!timingSafeEqual(bytes.subarray(20), this.#tag(list, payload))) return undefined
    return { activity: payload.readUInt32BE(0), key: this.#decrypt.update(payload.subarray(4)) }
  }

  #tag (list: ListName, payload: Buffer): Buffer {
    return createHmac('sha256', this.#macKey).update(`${list.kind}\0${list.key}\0`).update(payload).digest().subarray(0, TAG_BYTES)
  }
}
