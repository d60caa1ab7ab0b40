// The service on a real port for the Node client's tests, and a fetch that counts what it sends.
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll } from 'vitest'
import { SessionsClient, type FetchLike } from '../../client/src/index.js'
import { buildApp, type TestAppOptions } from './app.js'

export interface ServedApp {
  app: FastifyInstance
  /** `http://127.0.0.1:<port>` */
  baseUrl: string
  port: number
}

/** Builds the app as the tests do and listens on a free loopback port. */
export async function serveApp (opts: TestAppOptions = {}): Promise<ServedApp> {
  const app = await buildApp(opts)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { app, baseUrl: `http://127.0.0.1:${port}`, port }
}

/** The global fetch, recording each request's method and URL (path and query) before it goes. */
export function countingFetch (): { fetch: FetchLike, sent: string[] } {
  const sent: string[] = []
  const fetch: FetchLike = async (url, init) => {
    const { pathname, search } = new URL(url)
    sent.push(`${init.method} ${pathname}${search}`)
    return await globalThis.fetch(url, init)
  }
  return { fetch, sent }
}

/**
 * For a test file: the app served (beforeAll) and closed (afterAll), and a client of it. The
 * returned object fills in once beforeAll has run.
 */
export function useServedClient (): { served: ServedApp, client: SessionsClient } {
  const out = {} as { served: ServedApp, client: SessionsClient }
  beforeAll(async () => {
    out.served = await serveApp()
    out.client = new SessionsClient({ baseUrl: out.served.baseUrl })
  })
  afterAll(async () => { await out.served?.app.close() })
  return out
}
