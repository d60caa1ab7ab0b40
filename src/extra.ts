import { ApiError } from './errors.js'
import type { Extra } from './store/sessions-store.js'

/**
 * The extra data carried by a request body, checked: a plain object of at most `maxBytes` as
 * JSON. `undefined` when the request has no body (see plugins/body.ts).
 */
export function extraFrom (body: unknown, maxBytes: number): Extra | undefined {
  if (body === undefined) return undefined
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('invalid_extra', 'Extra data must be an object')
  }
  if (Buffer.byteLength(JSON.stringify(body)) > maxBytes) {
    throw new ApiError('payload_too_large', `Extra data is larger than ${maxBytes} bytes`)
  }
  // Form bodies come as null-prototype objects; give every caller an ordinary one.
  return { ...body }
}
