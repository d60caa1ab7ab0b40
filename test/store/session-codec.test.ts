import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { SessionCodec } from '../../src/store/session-codec.js'

const codec = new SessionCodec(randomBytes(32).toString('hex'))
const list = { kind: 'user', key: '42' } as const

describe('SessionCodec', () => {
  it('turns a key into an id and back, one id per key', () => {
    for (let i = 0; i < 1000; i++) {
      const key = randomBytes(16)
      key[8] = (key[8] & 0x3f) | 0x80
      const id = codec.id(key)
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
      expect(Buffer.from(codec.key(id)!)).toEqual(key)
    }
  })

  it('gives other ids under another secret', () => {
    const key = randomBytes(16)
    expect(new SessionCodec(randomBytes(32).toString('hex')).id(key)).not.toBe(codec.id(key))
  })

  it('refuses what cannot be an id', () => {
    for (const id of ['', 'abc', 'A'.repeat(21), 'A'.repeat(23), `${'A'.repeat(21)}B`, `${'A'.repeat(21)}=`]) {
      expect(codec.key(id), id).toBeUndefined()
    }
  })

  it('refuses an id whose key is a uuid Tarantool would not take (the reserved variant)', () => {
    // Ids made from random blocks: about 1 in 8 decrypts to the reserved variant.
    const refused = Array.from({ length: 400 }, () => randomBytes(16).toString('base64url')).filter((id) => codec.key(id) === undefined)
    // 400 draws of 1 in 8: 50 expected, and 20..90 holds but once in many billions.
    expect(refused.length).toBeGreaterThanOrEqual(20)
    expect(refused.length).toBeLessThanOrEqual(90)
  })

  it('reads back a cursor of the same list only, and refuses any change to it', () => {
    const position = { activity: 1_800_000_000, key: randomBytes(16) }
    const cursor = codec.cursor(list, position)
    expect(codec.position(list, cursor)).toEqual({ activity: position.activity, key: expect.anything() })
    expect(Buffer.from(codec.position(list, cursor)!.key)).toEqual(position.key)
    expect(codec.position({ kind: 'user', key: '43' }, cursor)).toBeUndefined()
    expect(codec.position({ kind: 'ip', key: '42' }, cursor)).toBeUndefined()
    for (let i = 0; i < cursor.length; i++) {
      const changed = cursor.slice(0, i) + (cursor[i] === 'A' ? 'B' : 'A') + cursor.slice(i + 1)
      expect(codec.position(list, changed), changed).toBeUndefined()
    }
  })
})
