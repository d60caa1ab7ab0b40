// The service killed outright (SIGKILL) and started again at once on the same DATA_DIR: its
// embedded Tarantool does not outlive it holding the port or the data directory, and no session
// is lost.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { SessionWithToken as Session } from '../../src/store/types.js'
import { uniqueUserId } from '../support/app.js'
import { isRunning, TARANTOOL_BIN } from '../support/tarantool.js'
import { missing } from '../support/programs.js'
import { http } from '../support/http.js'
import { runServer, stopAll, untilServing } from '../support/server.js'

const dataDir = mkdtempSync(join(tmpdir(), 'sessions-kill-'))
afterEach(() => {
  stopAll()
  rmSync(dataDir, { recursive: true, force: true })
})

const SESSIONS = 300

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('service killed and restarted', () => {
  it('loses no session and leaves no Tarantool behind', { timeout: 60_000 }, async () => {
    const first = await runServer(dataDir)
    await untilServing(first)
    const userId = uniqueUserId()
    const created: Session[] = []
    for (let i = 0; i < SESSIONS; i++) {
      const res = await http(first.port, `/new?user_id=${userId}&ip=127.0.0.${1 + (i % 200)}`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ i })
      })
      expect(res.status).toBe(200)
      created.push(res.body.data)
    }

    first.process.kill('SIGKILL')
    await first.exited
    // Started again at once, as a supervisor would: it must come up on the same data.
    const second = await runServer(dataDir)
    await untilServing(second)
    // It let go of the data directory (the new one runs on it); it may take a moment to be gone.
    await vi.waitFor(() => { expect(isRunning(first.tarantoolPid())).toBe(false) }, { timeout: 5000, interval: 100 })
    expect(second.tarantoolPid()).not.toBe(first.tarantoolPid())

    const res = await http(second.port, `/user?id=${userId}`)
    expect(res.status).toBe(200)
    const byToken = (a: Session, b: Session): number => a.token.localeCompare(b.token)
    expect([...res.body.data].sort(byToken)).toEqual([...created].sort(byToken))
  })
})
