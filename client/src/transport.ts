// How the client's requests fail and are read: which failures may be sent again, and the
// envelope of an answer or the SessionsError it stands for.
import type { Endpoint, RetryPolicy } from './endpoints.js'
import { SessionsError } from './errors.js'

/**
 * Failures of a connection that was never made, so the request never left: safe to send again
 * whatever it does. Anything else (reset, closed, timed out) may have come after the service got it.
 */
const UNSENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'])

/** Whether what fetch threw says the connection was never made. */
function unsent (thrown: unknown): boolean {
  const err = (thrown as { cause?: unknown } | undefined)?.cause as { code?: string, errors?: unknown[] } | undefined
  if (err === undefined) return false
  // A connection attempted to several addresses fails with all their errors.
  if (Array.isArray(err.errors) && err.errors.length > 0) return err.errors.every((e) => UNSENT_CODES.has((e as { code?: string }).code ?? ''))
  return UNSENT_CODES.has(err.code ?? '')
}

/** Whether a call with this policy may be sent again after this failure. */
export function retriable (err: SessionsError, policy: RetryPolicy): boolean {
  if (policy === 'unsent') return err.code === 'network_error' && unsent(err.cause)
  return err.status === 503 || err.code === 'network_error' || err.code === 'timeout'
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The failure of a request that got no whole answer. */
export function transportError (err: unknown, attempt: number, timeoutMs: number): SessionsError {
  const name = (err as { name?: string } | undefined)?.name
  if (name === 'TimeoutError') return new SessionsError('timeout', 0, `No answer within ${timeoutMs} ms`, { attempts: attempt, cause: err })
  const cause = (err as { cause?: { code?: string, message?: string } } | undefined)?.cause
  const why = cause?.code ?? cause?.message ?? (err as Error | undefined)?.message ?? String(err)
  return new SessionsError('network_error', 0, `Could not reach the sessions service: ${why}`, { attempts: attempt, cause: err })
}

/** Whether `data` is what an endpoint of this kind answers. */
function fits (kind: Endpoint['reply'], body: Record<string, unknown>): boolean {
  const data = body.data as Record<string, unknown> | null | undefined
  switch (kind) {
    case 'page': return Array.isArray(data) && (typeof body.next === 'string' || body.next === null)
    case 'deleted': return typeof data?.deleted === 'number'
    case 'events': return Array.isArray(data) && typeof body.next === 'number'
    default: return typeof data === 'object' && data !== null && !Array.isArray(data)
  }
}

/** The success envelope of an answer, or the SessionsError it stands for. */
export function envelope (kind: Endpoint['reply'], status: number, text: string, attempt: number): Record<string, unknown> | SessionsError {
  let body: Record<string, unknown> | undefined
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>
  } catch {
    // Not JSON: a bad_response, below.
  }
  if (body?.status === 'error' && typeof body.code === 'string') {
    return new SessionsError(body.code, status, typeof body.message === 'string' ? body.message : body.code, { attempts: attempt })
  }
  if (status === 200 && body?.status === 'success' && fits(kind, body)) return body
  return new SessionsError('bad_response', status, `The answer (HTTP ${status}) is not the sessions service's: ${text.slice(0, 200)}`, { attempts: attempt })
}
