// npm run backup while the service serves, then wipe the data, npm run restore, and every session
// that existed before the backup is back, identical.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { Session } from '../../src/store/sessions-store.js'
import { uniqueUserId } from '../support/app.js'
import { TARANTOOL_BIN } from '../support/tarantool.js'
import { missing } from '../support/programs.js'
import { http } from '../support/http.js'
import { runServer, stopAll, untilServing } from '../support/server.js'

const root = mkdtempSync(join(tmpdir(), 'sessions-backup-'))
const dataDir = join(root, 'data')
const backupDir = join(root, 'backup')
afterAll(() => {
  stopAll()
  rmSync(root, { recursive: true, force: true })
})

/** Runs one of the npm scripts (scripts/NAME.ts) and returns its exit code and output. */
function script (name: string, ...args: string[]): Promise<{ code: number | null, output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `scripts/${name}.ts`, ...args], { env: { PATH: process.env.PATH } })
    let output = ''
    child.stdout.on('data', (chunk) => { output += chunk })
    child.stderr.on('data', (chunk) => { output += chunk })
    // 'close', not 'exit': its output may still be in the pipes when it has exited.
    child.on('close', (code) => resolve({ code, output }))
  })
}

const USERS = 10
const PER_USER = 30
const LOAD_CLIENTS = 8
const LOAD_MAX_MS = 30_000

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('backup and restore', () => {
  it('brings back every session, identical, from a backup taken under load', { timeout: 120_000 }, async () => {
    const server = await runServer(dataDir)
    await untilServing(server)
    const firstUser = uniqueUserId() - USERS
    const listing = async (port: number, user: number): Promise<Session[]> => {
      const res = await http(port, `/user?id=${user}`)
      expect(res.status).toBe(200)
      return res.body.data
    }
    for (let user = firstUser; user < firstUser + USERS; user++) {
      for (let i = 0; i < PER_USER; i++) {
        const extra = { i, device: 'Nexus 5', nested: { list: [1, 'two', null], 'ключ': 'ünï' } }
        const res = await http(server.port, `/new?user_id=${user}&ip=2001:db8::${i.toString(16)}`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(extra)
        })
        expect(res.status).toBe(200)
      }
    }
    const before = new Map<number, Session[]>()
    for (let user = firstUser; user < firstUser + USERS; user++) before.set(user, await listing(server.port, user))

    // Clients create and read sessions of their own until the backup is done.
    let backupDone = false
    const loadFailures: string[] = []
    let loadRequests = 0
    const loadEnds = Date.now() + LOAD_MAX_MS
    const client = async (n: number): Promise<void> => {
      while (!backupDone && Date.now() < loadEnds) {
        const created = await http(server.port, `/new?user_id=${n}&ip=127.0.0.1`)
        const read = created.status === 200 ? await http(server.port, `/get?token=${created.body.data.token}`) : created
        loadRequests += 2
        if (read.status !== 200) loadFailures.push(`${read.status} ${read.text}`)
      }
    }
    const load = Promise.all(Array.from({ length: LOAD_CLIENTS }, (_, n) => client(n)))
    const backup = await script('backup', '--out', backupDir, '--data-dir', dataDir)
    backupDone = true
    await load
    expect(backup.output).toMatch(/copied .*\.snap/)
    expect(backup.code).toBe(0)
    expect(loadFailures).toEqual([])
    expect(loadRequests).toBeGreaterThan(0)
    const backedUp = Number(/backup of (\d+) sessions/.exec(backup.output)?.[1])
    expect(backedUp).toBeGreaterThanOrEqual(USERS * PER_USER)

    const refused = await script('restore', '--from', backupDir, '--data-dir', dataDir)
    expect(refused.code).toBe(1)
    expect(refused.output).toMatch(/Tarantool is running on .*: stop the service first/)

    server.process.kill('SIGTERM')
    expect(await server.exited).toBe(0)
    rmSync(dataDir, { recursive: true, force: true })

    const restore = await script('restore', '--from', backupDir, '--data-dir', dataDir)
    expect(restore.output).toContain(`restored ${backedUp} sessions`)
    expect(restore.code).toBe(0)

    const restarted = await runServer(dataDir)
    await untilServing(restarted)
    for (const [user, sessions] of before) expect(await listing(restarted.port, user)).toEqual(sessions)
  })
})
