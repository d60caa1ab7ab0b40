// Which requests get an access line: by default those answered with an error and the slow ones;
// ACCESS_LOG=all for every request, off for none.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { buildApp } from '../support/app.js'

type Line = Record<string, unknown>
const apps: FastifyInstance[] = []
afterEach(async () => { await Promise.all(apps.splice(0).map(async (app) => { await app.close() })) })

/** The app with `env`, and the access lines it writes. */
async function appLogging (env: Record<string, string>): Promise<{ app: FastifyInstance, access: () => Line[] }> {
  const lines: Line[] = []
  const app = await buildApp({ env: { LOG_LEVEL: 'info', ...env }, logStream: { write: (line) => lines.push(JSON.parse(line)) } })
  apps.push(app)
  return { app, access: () => lines.filter((line) => line.msg === 'request completed') }
}

describe('access log', () => {
  it('by default, logs the requests answered with an error and leaves out the fast successes', async () => {
    // ACCESS_LOG left at its default; no success is slow on a busy machine either.
    const { app, access } = await appLogging({ SLOW_REQUEST_MS: '600000' })
    const created = await app.inject({ url: '/new?user_id=7&ip=127.0.0.1' })
    const { token } = created.json<{ data: { token: string } }>().data
    expect((await app.inject({ url: `/get?token=${token}` })).statusCode).toBe(200)
    expect((await app.inject({ url: `/get?token=${randomUUID()}`, headers: { 'x-request-id': 'gone-1' } })).statusCode).toBe(404)
    expect((await app.inject({ url: '/user?id=x' })).statusCode).toBe(400)
    expect(access()).toEqual([
      expect.objectContaining({ reqId: 'gone-1', req: expect.objectContaining({ url: '/get?token=[redacted]' }), res: { statusCode: 404 } }),
      expect.objectContaining({ req: expect.objectContaining({ url: '/user?id=x' }), res: { statusCode: 400 } })
    ])
  })

  it('logs a success that took SLOW_REQUEST_MS or longer', async () => {
    const { app, access } = await appLogging({ SLOW_REQUEST_MS: '0' })
    expect((await app.inject({ url: '/user?id=1' })).statusCode).toBe(200)
    expect(access()).toEqual([expect.objectContaining({ res: { statusCode: 200 }, responseTime: expect.any(Number) })])
  })

  it('logs every request with ACCESS_LOG=all, none with off', async () => {
    const all = await appLogging({ ACCESS_LOG: 'all' })
    const off = await appLogging({ ACCESS_LOG: 'off', SLOW_REQUEST_MS: '0' })
    for (const { app } of [all, off]) {
      for (const url of ['/user?id=1', '/user?id=x', '/health']) await app.inject({ url })
    }
    expect(all.access().map((line) => (line.res as { statusCode: number }).statusCode)).toEqual([200, 400, 200])
    expect(off.access()).toEqual([])
  })
})
