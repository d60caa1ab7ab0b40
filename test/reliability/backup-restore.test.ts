// npm run backup while the service serves, then wipe the data, npm run restore, and every session
// that existed before the backup is back, identical. Then as an operator meets it: a restore over
// the data directory the service ran on (newer sessions in it), a damaged backup, a backup into a
// directory already used.
import { spawn } from 'node:child_process'
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readManifest, sha256 } from '../../lib/backup-manifest.js'
import type { Session } from '../../src/store/types.js'
import { uniqueUserId } from '../support/app.js'
import { TARANTOOL_BIN, tarantoolEnv } from '../support/tarantool.js'
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
    const child = spawn(process.execPath, ['--import', 'tsx', `scripts/${name}.ts`, ...args], { env: tarantoolEnv() })
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
        const extra = { i, device: 'Nexus 5', nested: { list: [1, 'two', null], ключ: 'ünï' } }
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

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('backup files', () => {
  it('are closed to other users: the directory 0700, every file 0600, also in an empty directory given open', { timeout: 60_000 }, async () => {
    const data = join(root, 'modes-data')
    const out = join(root, 'modes-backup')
    mkdirSync(out)
    chmodSync(out, 0o755)
    const server = await runServer(data)
    await untilServing(server)
    expect((await http(server.port, `/new?user_id=${uniqueUserId()}&ip=127.0.0.1`)).status).toBe(200)
    // Files of an instance that ran before its umask was set: readable by all.
    for (const name of readdirSync(data).filter((file) => /\.(snap|xlog)$/.test(file))) chmodSync(join(data, name), 0o644)
    const backup = await script('backup', '--out', out, '--data-dir', data)
    expect(backup.code).toBe(0)
    server.process.kill('SIGTERM')
    expect(await server.exited).toBe(0)

    expect(statSync(out).mode & 0o777).toBe(0o700)
    const files = readdirSync(out)
    expect(files).toEqual(expect.arrayContaining(['manifest.json']))
    expect(files.some((name) => name.endsWith('.snap'))).toBe(true)
    expect(files.filter((name) => (statSync(join(out, name)).mode & 0o777) !== 0o600)).toEqual([])

    // A restore into a new directory keeps them so.
    const restored = join(root, 'modes-restored')
    expect((await script('restore', '--from', out, '--data-dir', restored)).code).toBe(0)
    expect(statSync(restored).mode & 0o777).toBe(0o700)
    const open = readdirSync(restored).filter((name) => statSync(join(restored, name)).isFile() && (statSync(join(restored, name)).mode & 0o077) !== 0)
    expect(open).toEqual([])
  })
})

/** Each file under `dir` (subdirectories too, by relative path) with its SHA-256; sockets left out. */
function contents (dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name)
    const stat = statSync(path)
    if (stat.isDirectory()) out[name] = 'dir'
    else if (stat.isFile()) out[name] = sha256(path)
  }
  return out
}

/** The data files (snapshots, write-ahead logs) directly in `dir`, with their SHA-256. */
function dataFiles (dir: string): Record<string, string> {
  return Object.fromEntries(Object.entries(contents(dir)).filter(([name]) => /^[^/]+\.(snap|xlog)$/.test(name)))
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('restore onto the data directory the service ran on', () => {
  const inUse = join(root, 'in-use')
  const inUseBackup = join(root, 'in-use-backup')
  const userId = uniqueUserId()
  const newerUserId = uniqueUserId()
  let backedUp: Session[] = []
  let deletedAfter: Session
  let newer: Session[] = []

  // The service runs, the backup is taken, then sessions change: one of the backup's deleted, new
  // ones created. The service is stopped, as it must be for a restore.
  beforeAll(async () => {
    const server = await runServer(inUse)
    await untilServing(server)
    const create = async (user: number): Promise<Session> => {
      const res = await http(server.port, `/new?user_id=${user}&ip=127.0.0.1`)
      expect(res.status).toBe(200)
      return res.body.data
    }
    for (let i = 0; i < 3; i++) await create(userId)
    backedUp = (await http(server.port, `/user?id=${userId}`)).body.data
    expect(backedUp).toHaveLength(3)
    const backup = await script('backup', '--out', inUseBackup, '--data-dir', inUse)
    expect(backup.code).toBe(0)

    deletedAfter = backedUp[1]
    expect((await http(server.port, `/del?id=${deletedAfter.id}`)).status).toBe(200)
    newer = [await create(userId), await create(newerUserId), await create(newerUserId)]
    server.process.kill('SIGTERM')
    expect(await server.exited).toBe(0)
  }, 60_000)

  it('refuses a backup whose files do not match their checksums, leaving the data directory as it was', { timeout: 30_000 }, async () => {
    // A copy cut short, as an interrupted transfer leaves it.
    const damaged = join(root, 'damaged-backup')
    cpSync(inUseBackup, damaged, { recursive: true })
    const snapshot = readManifest(damaged).files.find((file) => file.name.endsWith('.snap'))!
    truncateSync(join(damaged, snapshot.name), Math.floor(snapshot.bytes / 2))
    const before = contents(inUse)
    expect(Object.keys(dataFiles(inUse)).length).toBeGreaterThan(0)

    const restore = await script('restore', '--from', damaged, '--data-dir', inUse)
    expect(restore.output).toContain(`restore failed: ${snapshot.name} in ${damaged} is not the file that was backed up`)
    expect(restore.code).toBe(1)
    expect(contents(inUse)).toEqual(before)
  })

  it('moves the data files aside into DATA_DIR/replaced-<time>/; the service then serves the backup\'s sessions, not the newer ones', { timeout: 60_000 }, async () => {
    const before = dataFiles(inUse)
    const asideBefore = readdirSync(inUse).filter((name) => name.startsWith('replaced-'))
    const restore = await script('restore', '--from', inUseBackup, '--data-dir', inUse)
    expect(restore.output).toContain(`restored ${backedUp.length} sessions`)
    expect(restore.code).toBe(0)

    // The files that were there, moved whole into one new directory, which the output names.
    const aside = readdirSync(inUse).filter((name) => name.startsWith('replaced-') && !asideBefore.includes(name))
    expect(aside).toHaveLength(1)
    expect(aside[0]).toMatch(/^replaced-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/)
    expect(restore.output).toContain(`moved the data files there were (${Object.keys(before).join(', ')}) to ${join(inUse, aside[0])}`)
    expect(contents(join(inUse, aside[0]))).toEqual(before)
    for (const file of readManifest(inUseBackup).files) expect(sha256(join(inUse, file.name))).toBe(file.sha256)

    const server = await runServer(inUse)
    await untilServing(server)
    // The user's sessions as the backup had them: the one deleted since back, the one created
    // since absent.
    expect((await http(server.port, `/user?id=${userId}`)).body).toEqual({ status: 'success', data: backedUp, next: null })
    expect((await http(server.port, `/user?id=${newerUserId}`)).body).toEqual({ status: 'success', data: [], next: null })
    for (const session of newer) {
      expect((await http(server.port, `/get?token=${session.token}`)).body).toMatchObject({ status: 'error', code: 'token_not_found' })
    }
    expect((await http(server.port, `/get?token=${deletedAfter.token}`)).body).toMatchObject({ status: 'success', data: { id: deletedAfter.id } })
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('backup into a directory that is not empty', () => {
  it('is refused, and the directory left as it was', { timeout: 30_000 }, async () => {
    const dir = join(root, 'busy-data')
    const used = join(root, 'used-backup')
    mkdirSync(used)
    writeFileSync(join(used, 'manifest.json'), '{"an": "earlier backup"}\n')
    const server = await runServer(dir)
    await untilServing(server)

    const backup = await script('backup', '--out', used, '--data-dir', dir)
    expect(backup.output).toContain(`backup failed: ${used} is not empty: back up into a new directory`)
    expect(backup.code).toBe(1)
    expect(readdirSync(used)).toEqual(['manifest.json'])
    expect(readFileSync(join(used, 'manifest.json'), 'utf8')).toBe('{"an": "earlier backup"}\n')
  })
})
