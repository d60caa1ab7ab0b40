// One rule for the size of extra data: EXTRA_MAX_BYTES bytes as JSON.stringify writes it, measured
// on the value as stored, new (/new) or merged (/get), at the boundary.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiError, buildApp, call, newSession, ok } from '../support/app.js'

const MAX = 64
let app: FastifyInstance
beforeAll(async () => { app = await buildApp({ env: { EXTRA_MAX_BYTES: String(MAX) } }) })
afterAll(async () => { await app.close() })

const size = (value: unknown): number => Buffer.byteLength(JSON.stringify(value))

/** `extra` with a key `pad` of as many `filler` characters as make it `bytes` long as JSON. */
function padded (extra: Record<string, unknown>, bytes: number, filler = 'x'): Record<string, unknown> {
  const base = size({ ...extra, pad: '' })
  const out = { ...extra, pad: filler.repeat((bytes - base) / Buffer.byteLength(filler)) }
  expect(size(out)).toBe(bytes)
  return out
}

const tooLarge = { statusCode: 413, body: apiError('payload_too_large') }

describe('EXTRA_MAX_BYTES', () => {
  // Numbers Tarantool's encoder writes with 14 digits, slashes it escapes, text of several bytes a
  // character, escapes JSON.stringify writes: each measured as JSON.stringify writes it.
  it.each([
    ['plain text', {}, 'x'],
    ['a number of 17 digits', { n: 0.30000000000000004, m: 1e21, k: 5e-324 }, 'x'],
    ['slashes', { url: 'https://example.com/a/b' }, '/'],
    ['two-byte characters', { name: 'é' }, 'é'],
    ['escapes', { q: '"\\\n\u0001' }, 'x']
  ])('takes %s at exactly the limit on /new, and refuses a byte more', async (_name, extra, filler) => {
    const exact = padded(extra, MAX, filler)
    const created = await ok(app, { url: '/new?user_id=1&ip=10.0.0.1', payload: exact })
    expect(created.extra).toEqual(exact)
    const over = padded(extra, MAX + Buffer.byteLength(filler), filler)
    expect(await call(app, { url: '/new?user_id=1&ip=10.0.0.1', payload: over })).toEqual(tooLarge)
  })

  it('takes a form body (the PHP client\'s) at exactly the limit', async () => {
    const fields = padded({ device: 'Nexus 5' }, MAX)
    const form = new URLSearchParams(fields as Record<string, string>).toString()
    const headers = { 'content-type': 'application/x-www-form-urlencoded' }
    expect((await ok(app, { method: 'GET', url: '/new?user_id=1&ip=10.0.0.1', headers, payload: form })).extra).toEqual(fields)
    const over = new URLSearchParams({ ...fields, pad: `${String(fields.pad)}x` }).toString()
    expect(await call(app, { method: 'GET', url: '/new?user_id=1&ip=10.0.0.1', headers, payload: over })).toEqual(tooLarge)
  })

  it('measures the merged extra of /get the same way, and keeps the stored one when refused', async () => {
    const session = await newSession(app, undefined, undefined, { n: 0.30000000000000004 })
    // The merge has to reach exactly MAX with the stored key in it.
    const merged = padded({ n: 0.30000000000000004, s: 'a/b' }, MAX)
    const { n: _n, ...sent } = merged
    expect((await ok(app, { url: `/get?token=${session.token}`, payload: sent })).extra).toEqual(merged)
    expect(await call(app, { url: `/get?token=${session.token}`, payload: { more: 1 } })).toEqual(tooLarge)
    expect((await ok(app, { url: `/get?token=${session.token}` })).extra).toEqual(merged)
    // Replacing a key with a shorter value makes room again.
    expect((await ok(app, { url: `/get?token=${session.token}`, payload: { pad: '' } })).extra).toEqual({ ...merged, pad: '' })
  })
})
