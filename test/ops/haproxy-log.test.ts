// The load balancer of docker-compose.ha.yml, its own haproxy.ha.cfg, in front of the service: its
// log line for each request has httplog's fields and the path, never the query string a token
// travels in.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { findExecutable } from '../../src/embedded/tarantool.js'
import { buildApp, newSession } from '../support/app.js'
import { http } from '../support/http.js'
import { freePort } from '../support/tarantool.js'

const HAPROXY = findExecutable('haproxy', `${process.env.PATH ?? ''}:/usr/sbin:/sbin`)
const CONFIG = new URL('../../haproxy.ha.cfg', import.meta.url)

// Not `missing()`: CI does not install HAProxy (yet), and this must not fail it for that.
describe.skipIf(HAPROXY === undefined)('haproxy.ha.cfg', () => {
  let app: FastifyInstance
  let haproxy: ChildProcess
  let port: number
  let log = ''
  let dir: string
  beforeAll(async () => {
    app = await buildApp()
    const address = await app.listen({ port: 0, host: '127.0.0.1' })
    port = await freePort()
    dir = mkdtempSync(join(tmpdir(), 'sessions-haproxy-'))
    // The project's file as it is, but for where it listens and where the services are.
    const config = readFileSync(CONFIG, 'utf8')
      .replace('bind :8080', `bind 127.0.0.1:${port}`)
      .replace(/server (sessions\d) sessions\d:8080/g, `server $1 ${new URL(address).host}`)
    expect(config).toContain(`bind 127.0.0.1:${port}`)
    writeFileSync(join(dir, 'haproxy.cfg'), config)
    haproxy = spawn(HAPROXY!, ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] })
    haproxy.stdout!.on('data', (chunk) => { log += chunk })
    haproxy.stderr!.on('data', (chunk) => { log += chunk })
    await vi.waitFor(async () => { expect((await http(port, '/health', { timeoutMs: 1000 })).status).toBe(200) }, { timeout: 10_000, interval: 100 })
  })
  afterAll(async () => {
    haproxy?.kill('SIGTERM')
    await app?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('logs the path of each request, not its query string, with the rest of httplog', async () => {
    const { token } = await newSession(app)
    expect((await http(port, `/get?token=${token}`)).status).toBe(200)
    expect((await http(port, `/del_user?id=1&except=${token}`)).status).toBe(200)
    await vi.waitFor(() => { expect(log).toMatch(/"GET \/del_user HTTP\/1.1"/) }, { timeout: 5000, interval: 50 })
    const line = log.split('\n').find((l) => l.includes('"GET /get HTTP/1.1"'))
    // client:port [date] frontend backend/server timers status bytes - - termination conns queues "request"
    expect(line).toMatch(/^127\.0\.0\.1:\d+ \[[^\]]+\] http sessions\/sessions[12] \d+\/\d+\/\d+\/\d+\/\d+ 200 \d+ - - ---- \d+\/\d+\/\d+\/\d+\/\d+ \d+\/\d+ "GET \/get HTTP\/1.1"$/)
    expect(log).not.toContain(token)
    expect(log).not.toContain('token=')
  })
})
