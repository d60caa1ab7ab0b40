// Every size limit of a request, each answered with its own clear 4xx envelope.
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXTRA_MAX_DEPTH } from '../../src/api/extra.js'
import { FORM_MAX_FIELDS } from '../../src/plugins/body.js'
import { apiError, buildApp } from '../support/app.js'
import { http, type HttpOptions } from '../support/http.js'

// Large enough that a form of FORM_MAX_FIELDS short fields fits in the extra data.
const EXTRA_MAX_BYTES = 32_768
const BODY_LIMIT = 4 * EXTRA_MAX_BYTES
const HEADERS_LIMIT = 16_384

describe('request limits', () => {
  let app: FastifyInstance
  let port: number
  beforeAll(async () => {
    app = await buildApp({ env: { EXTRA_MAX_BYTES: String(EXTRA_MAX_BYTES) } })
    await app.listen({ port: 0, host: '127.0.0.1' })
    port = (app.server.address() as AddressInfo).port
  })
  afterAll(async () => { await app.close() })

  const json = (body: string): HttpOptions => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body })
  const form = (body: string): HttpOptions => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })
  const nested = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
  const fields = (count: number, key = (i: number): string => `k${i}`): string =>
    Array.from({ length: count }, (_, i) => `${key(i)}=v`).join('&')
  const newUrl = '/new?user_id=1&ip=127.0.0.1'

  it.each([
    ['a URL over 16 KiB', `/user?id=1&pad=${'a'.repeat(HEADERS_LIMIT)}`, {}, 431, 'headers_too_large'],
    ['a body over 4 × EXTRA_MAX_BYTES', newUrl, json(`{"a":"${'x'.repeat(BODY_LIMIT)}"}`), 413, 'payload_too_large'],
    ['extra data over EXTRA_MAX_BYTES', newUrl, json(`{"a":"${'x'.repeat(EXTRA_MAX_BYTES)}"}`), 413, 'payload_too_large'],
    [`a form of ${FORM_MAX_FIELDS + 1} fields`, newUrl, form(fields(FORM_MAX_FIELDS + 1)), 413, 'payload_too_large'],
    [`a form of ${FORM_MAX_FIELDS + 1} fields of one key`, newUrl, form(fields(FORM_MAX_FIELDS + 1, () => 'a')), 413, 'payload_too_large'],
    [`JSON nested ${EXTRA_MAX_DEPTH + 1} levels deep`, newUrl, json(nested(EXTRA_MAX_DEPTH + 1)), 400, 'invalid_extra']
  ] as const)('refuses %s', async (_what, url, opts, status, code) => {
    const res = await http(port, url, opts)
    expect({ status: res.status, body: res.body }).toEqual({ status, body: apiError(code) })
  })

  it('takes requests right at the limits whole', async () => {
    const atFieldLimit = await http(port, newUrl, form(fields(FORM_MAX_FIELDS)))
    expect(atFieldLimit.status).toBe(200)
    expect(Object.keys(atFieldLimit.body.data.extra)).toHaveLength(FORM_MAX_FIELDS)

    const atDepthLimit = await http(port, newUrl, json(nested(EXTRA_MAX_DEPTH)))
    expect(atDepthLimit.status).toBe(200)

    const longUrl = await http(port, `/user?id=1&pad=${'a'.repeat(HEADERS_LIMIT - 1024)}`)
    expect(longUrl.status).toBe(200)
  })
})
