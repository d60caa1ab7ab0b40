// The service started with a new replica set, as docker-compose.ha.yml starts them all at once: a
// member that listens before the set has bootstrapped refuses every login with ER_LOADING ("Instance
// bootstrap hasn't finished yet"). Expected and retried, so not an error: an operator's alerting
// must stay quiet on a healthy start. A refusal of the credentials stays an error
// (credentials-refused.test.ts, test/store/tarantool-client.test.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { parseTarantoolUri } from '../../src/config.js'
import { INIT_LUA } from '../../src/embedded/tarantool.js'
import { TarantoolClient } from '../../src/store/tarantool-client.js'
import { StorageAuthError } from '../../src/store/tarantool-errors.js'
import { buildApp, ok, uniqueUserId } from '../support/app.js'
import { startCluster } from '../support/cluster.js'
import { missing } from '../support/programs.js'
import { TARANTOOL_BIN } from '../support/tarantool.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

const STILL_STARTING = 'Tarantool is still starting; connecting again until it is ready'

interface Line { level: number, msg: string, component?: string, member?: string, reason?: string, err?: { message?: string } }

/** The service's errors and warnings, but the 503s it answered (the outage lines): level and message. */
/** The service in front of the set at `uri`, its log lines into `lines`, closed after the test. */
async function appOn (uri: string, lines: Line[]): Promise<FastifyInstance> {
  const app = await buildApp({
    uri,
    // Start-up gives up waiting for a writable member soon (a warning), and serves 503 until one comes.
    connectWaitMs: 500,
    // TARANTOOL_TIMEOUT_MS as docker-compose.ha.yml has it: it also bounds each attempt to connect.
    env: { LOG_LEVEL: 'info', TARANTOOL_TIMEOUT_MS: '1000' },
    logStream: { write: (line) => lines.push(JSON.parse(line)) }
  })
  cleanup.push(() => app.close())
  return app
}

function alarms (lines: Line[]): string[] {
  return lines.filter((line) => line.level >= 40 && line.component !== 'outage').map((line) => `${line.level} ${line.msg}${line.level >= 50 ? `: ${line.err?.message ?? ''}` : ''}`)
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('a new replica set starting under the service', () => {
  it('logs no error while the members bootstrap (one info line for a member still starting), then serves', { timeout: 90_000 }, async () => {
    // Member 2 alone: it listens, and waits in box.cfg for the others to bootstrap the set.
    const cluster = await startCluster({ defer: [0, 2] })
    cleanup.push(() => cluster.stop())
    const second = `127.0.0.1:${cluster.members[1].port}`
    const lines: Line[] = []
    const app = await appOn(cluster.uri, lines)

    await vi.waitFor(() => {
      expect(lines.filter((line) => line.msg === STILL_STARTING).map((line) => line.member)).toContain(second)
    }, { timeout: 10_000, interval: 50 })
    expect(lines.find((line) => line.member === second)?.reason).toBe('Tarantool is still loading: Instance bootstrap hasn\'t finished yet')
    // Logins go on being refused meanwhile (every 0.5 s at most), with no second line.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect((await app.inject({ url: '/ready' })).statusCode).toBe(503)

    await cluster.startDeferred()
    await vi.waitFor(async () => {
      expect((await app.inject({ url: '/ready' })).statusCode).toBe(200)
    }, { timeout: 30_000, interval: 100 })
    await ok(app, { url: `/new?user_id=${uniqueUserId()}&ip=127.0.0.1` })

    // No error; one warning, start-up's (besides the 503s answered meanwhile, /ready's here).
    expect(alarms(lines)).toEqual(['40 Tarantool is not reachable yet; answering 503 until it is'])
    // At most once a member (the others may be caught loading too, once started).
    const starting = lines.filter((line) => line.msg === STILL_STARTING).map((line) => line.member)
    expect(starting.filter((member) => member === second)).toHaveLength(1)
    expect(new Set(starting).size).toBe(starting.length)
  })

  it('logs no error either while a member that has bootstrapped waits for the service user', { timeout: 90_000 }, async () => {
    // The first member, which bootstraps the set (no elections here), makes the service user 3 s
    // after its box.cfg, as slow first migrations would, and refuses the service user's logins as
    // unknown meanwhile (ER_NO_SUCH_USER, or 2.11's ER_CREDS_MISMATCH); the others stay loading
    // until they have caught up with it.
    const dir = mkdtempSync(join(tmpdir(), 'sessions-slow-init-'))
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
    const slowInit = join(dir, 'init.lua')
    writeFileSync(slowInit, `
      local cfg = box.cfg
      box.cfg = function(...)
        cfg(...)
        require('fiber').sleep(3)
      end
      dofile(${JSON.stringify(INIT_LUA)})`)
    const cluster = await startCluster({ defer: [0, 2], initLua: (index) => (index === 0 ? slowInit : INIT_LUA) })
    cleanup.push(() => cluster.stop())
    const lines: Line[] = []
    const app = await appOn(cluster.uri, lines)
    await vi.waitFor(() => { expect(lines.map((line) => line.msg)).toContain(STILL_STARTING) }, { timeout: 10_000, interval: 50 })

    const started = cluster.startDeferred()
    // The state this is about: the first member has bootstrapped, and refuses the service user.
    const first = parseTarantoolUri(cluster.members[0].uri)
    await vi.waitFor(async () => {
      const probe = new TarantoolClient({ ...first, timeoutMs: 1000 })
      try {
        await expect(probe.waitConnected(1000)).rejects.toBeInstanceOf(StorageAuthError)
      } finally {
        probe.close()
      }
    }, { timeout: 20_000, interval: 100 })
    await started
    await vi.waitFor(async () => {
      expect((await app.inject({ url: '/ready' })).statusCode).toBe(200)
    }, { timeout: 30_000, interval: 100 })
    await ok(app, { url: `/new?user_id=${uniqueUserId()}&ip=127.0.0.1` })
    expect(alarms(lines)).toEqual(['40 Tarantool is not reachable yet; answering 503 until it is'])
  })
})
