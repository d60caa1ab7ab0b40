// tarantool/init.lua as the compose files run it (TARANTOOL_WORK_DIR, a TCP port): its files closed
// to other users, and the published default passwords refused in a replica set.
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { INIT_LUA } from '../../src/embedded/tarantool.js'
import { missing } from '../support/programs.js'
import { startTarantool, TARANTOOL_BIN, type TestTarantool } from '../support/tarantool.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function tempDir (): string {
  const dir = mkdtempSync(join(tmpdir(), 'sessions-init-'))
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('tarantool/init.lua', () => {
  it('makes a work directory made before 0700 and every file in it 0600, those it writes included', async () => {
    // As a volume or a directory made by hand: open to all, with a file from before in it.
    const dir = join(tempDir(), 'work')
    mkdirSync(dir)
    chmodSync(dir, 0o755)
    writeFileSync(join(dir, 'earlier.snap.bak'), 'x')
    chmodSync(join(dir, 'earlier.snap.bak'), 0o644)
    const tarantool: TestTarantool = await startTarantool({ TARANTOOL_WORK_DIR: dir })
    cleanup.push(tarantool.stop)

    expect(statSync(dir).mode & 0o777).toBe(0o700)
    const files = readdirSync(dir)
    expect(files).toEqual(expect.arrayContaining(['earlier.snap.bak', 'tarantool.pid', 'console.sock']))
    expect(files.some((name) => name.endsWith('.snap'))).toBe(true)
    expect(files.some((name) => name.endsWith('.xlog'))).toBe(true)
    const open = files.filter((name) => (statSync(join(dir, name)).mode & 0o077) !== 0)
    expect(open).toEqual([])
  })

  it.each([
    ['TARANTOOL_USER_PASSWORD', { TARANTOOL_USER_PASSWORD: 'change-me', TARANTOOL_REPLICATION_PASSWORD: 'a-secret-of-ours' }],
    ['TARANTOOL_REPLICATION_PASSWORD', { TARANTOOL_USER_PASSWORD: 'a-secret-of-ours', TARANTOOL_REPLICATION_PASSWORD: 'change-me-too' }],
    ['TARANTOOL_REPLICATION_PASSWORD', { TARANTOOL_USER_PASSWORD: 'a-secret-of-ours', TARANTOOL_REPLICATION_PASSWORD: 'change-me' }]
  ])('refuses to start a member of a replica set whose %s is a published default', (name, passwords) => {
    const dir = tempDir()
    const run = spawnSync(TARANTOOL_BIN!, [INIT_LUA], {
      cwd: dir,
      env: { TARANTOOL_WORK_DIR: dir, TARANTOOL_PORT: '127.0.0.1:3', TARANTOOL_REPLICATION: '127.0.0.1:3,127.0.0.1:4,127.0.0.1:5', ...passwords },
      encoding: 'utf8',
      timeout: 10_000
    })
    expect(run.status).toBe(1)
    expect(run.stdout + run.stderr).toContain(`${name} is a published default`)
    // Refused before box.cfg: nothing written.
    expect(readdirSync(dir)).toEqual([])
  })
})
