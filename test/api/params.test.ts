import { describe, expect, it } from 'vitest'
import { ApiError } from '../../src/api/errors.js'
import { parseIp, parseUserId } from '../../src/api/params.js'

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

  // Only ::ffff:0:0/96 is IPv4 (RFC 4291 2.5.5.2). The IPv4-compatible form `::a.b.c.d` (deprecated,
  // 2.5.5.1) is an IPv6 address like any other: its dotted quad is two groups of hex.
  it.each([
    [['::ffff:1.2.3.4', '::ffff:102:304', '::FFFF:1.2.3.4', '0:0:0:0:0:ffff:1.2.3.4', '0:0:0:0:0:ffff:0102:0304'], '1.2.3.4'],
    [['::ffff:0.0.0.0', '::ffff:0:0'], '0.0.0.0'],
    [['::ffff:255.255.255.255', '::ffff:ffff:ffff'], '255.255.255.255'],
    [['::1.2.3.4', '::102:304', '0:0:0:0:0:0:1.2.3.4', '::0102:0304'], '::102:304'],
    [['::0.0.0.0', '::', '0:0:0:0:0:0:0:0'], '::'],
    [['::0.0.0.1', '::1'], '::1'],
    [['::255.255.255.255', '::ffff:ffff'], '::ffff:ffff'],
    [['::ffff:0:1.2.3.4', '::ffff:0:102:304'], '::ffff:0:102:304'],
    [['64:ff9b::1.2.3.4', '64:ff9b::102:304'], '64:ff9b::102:304'],
    [['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'], '1:2:3:4:5:6:102:304']
  ])('reads every notation of %j as %s', (notations, canonical) => {
    expect(notations.map((raw) => parseIp(raw))).toEqual(notations.map(() => canonical))
  })

  it.each(['1.2.3.04', '1.2.3', '1.2.3.4.5', '::1.2.3.04', '::1.2.3', '::1.2.3.4:5', '::1%lo', '[::1]', 'example.com', '', undefined])('rejects %j', (raw) => {
    expect(() => parseIp(raw)).toThrow(expect.objectContaining({ code: 'invalid_ip' }) as ApiError)
  })
})
