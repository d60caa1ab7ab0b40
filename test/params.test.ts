import { describe, expect, it } from 'vitest'
import { ApiError } from '../src/errors.js'
import { parseIp, parseUserId } from '../src/params.js'

describe('parseUserId', () => {
  it.each([['0', 0], ['42', 42], ['0042', 42], ['9007199254740991', 9007199254740991]])('reads %s', (raw, id) => {
    expect(parseUserId(raw)).toBe(id)
  })

  it.each(['', '-1', '1.0', '1e3', '0x1f', '٣', '9007199254740992', undefined, ['1']])('rejects %j', (raw) => {
    expect(() => parseUserId(raw)).toThrow(expect.objectContaining({ code: 'invalid_user_id' }) as ApiError)
  })
})

describe('parseIp', () => {
  it.each([
    ['192.168.1.1', '192.168.1.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['2001:0DB8::0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::', '::']
  ])('reads %s as %s', (raw, canonical) => {
    expect(parseIp(raw)).toBe(canonical)
  })

  it.each(['1.2.3.04', '1.2.3', '1.2.3.4.5', '::1%lo', '[::1]', 'example.com', '', undefined])('rejects %j', (raw) => {
    expect(() => parseIp(raw)).toThrow(expect.objectContaining({ code: 'invalid_ip' }) as ApiError)
  })
})
