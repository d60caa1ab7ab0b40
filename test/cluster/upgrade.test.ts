// A rolling upgrade of a replica set without elections: the read-only members run newer code
// first (a migration more), then one of them is made the writable member (npm run promote): it
// applies its own migration, which reaches every member by replication, the member with the older
// code included, and the service user may call it at once.
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { INIT_LUA } from '../../src/embedded/tarantool.js'
import { consoleEval, createSession, holds, memberClient, startCluster, waitHolds, type TestCluster } from '../support/cluster.js'
import { missing } from '../support/programs.js'
import { TARANTOOL_BIN } from '../support/tarantool.js'

const PROMOTE = fileURLToPath(new URL('../../scripts/promote.ts', import.meta.url))
const run = promisify(execFile)

// The newer release: today's code and one step more, appended to the migrations as a release adds one.
const NEWER_STEP = `
steps[#steps + 1] = {
    name = 'a newer release: the upgrade_probe space',
    up = function() box.schema.space.create('upgrade_probe'):create_index('primary') end,
}
`

const SCHEMA = "return {require('sessions.migrations').version(), box.space.upgrade_probe ~= nil, box.info.ro}"

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('a rolling upgrade of a replica set', () => {
  let cluster: TestCluster
  let newer: string

  beforeAll(async () => {
    newer = mkdtempSync(join(tmpdir(), 'sessions-newer-'))
    cpSync(dirname(INIT_LUA), newer, { recursive: true })
    const migrations = join(newer, 'sessions', 'migrations.lua')
    const code = readFileSync(migrations, 'utf8')
    const at = code.indexOf('local M = {}')
    expect(at).toBeGreaterThan(0)
    writeFileSync(migrations, code.slice(0, at) + NEWER_STEP + code.slice(at))
    // Member 1, the writable one, runs today's code; members 2 and 3 the newer.
    cluster = await startCluster({ initLua: (index) => (index === 0 ? INIT_LUA : join(newer, 'init.lua')) })
  })
  afterAll(async () => {
    await cluster?.stop()
    if (newer !== undefined) rmSync(newer, { recursive: true, force: true })
  })

  it('leaves the schema to the writable member: the read-only ones with newer code wait', async () => {
    const current = await consoleEval<[number, boolean, boolean]>(cluster.members[0].console, SCHEMA)
    expect(current[1]).toBe(false)
    for (const member of cluster.members.slice(1)) {
      expect(await consoleEval(member.console, SCHEMA)).toEqual([current[0], false, true])
    }
  })

  it('applies the newer migration on the member promoted, and replicates it to all, the older one included', async () => {
    const before = (await consoleEval<[number]>(cluster.members[0].console, SCHEMA))[0]
    const client = await memberClient(cluster.members[0])
    const earlier = randomUUID()
    await createSession(client, earlier)
    client.close()

    const { stdout } = await run(process.execPath, ['--import', 'tsx', PROMOTE, '--console', cluster.members[1].console])
    expect(stdout).toMatch(/writable/)
    const deadline = Date.now() + 15_000
    for (const [i, member] of cluster.members.entries()) {
      let state: [number, boolean, boolean]
      while ((state = await consoleEval(member.console, SCHEMA))[0] !== before + 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      expect(state).toEqual([before + 1, true, i !== 1])
    }

    // The service user calls the new leader at once, and what was there before is there.
    const leader = await memberClient(cluster.members[1])
    try {
      const later = randomUUID()
      await createSession(leader, later)
      expect(await holds(cluster.members[1], [earlier, later])).toBe(2)
      await waitHolds(cluster.members[0], [earlier, later])
    } finally {
      leader.close()
    }
  })
})
