// The ip /new and /get send Tarantool: an IPv4 address as the number it is stored as, anything
// else as its text (Tarantool's sessions.ips reads both; the answers are text either way).
import { describe, expect, it } from 'vitest'
import { ipArgument } from '../../src/store/sessions-store.js'

describe('ipArgument', () => {
  it('turns an IPv4 address into its 32-bit number, as tarantool/sessions/ips.lua does', () => {
    expect(ipArgument('10.0.0.1')).toBe(167772161)
    expect(ipArgument('0.0.0.0')).toBe(0)
    expect(ipArgument('255.255.255.255')).toBe(4294967295)
    expect(ipArgument('192.168.1.20')).toBe(((192 * 256 + 168) * 256 + 1) * 256 + 20)
  })

  it('leaves anything else as its text', () => {
    for (const ip of ['::1', '2001:db8::1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '.1.2.3', '1.2.3.', '1.2.3.1000', 'a.b.c.d', '']) {
      expect(ipArgument(ip)).toBe(ip)
    }
  })
})
