// Moving the writes to another member of a replica set without elections (npm run promote): a
// planned switchover while the service writes, a forced failover after the leader was killed, the
// old leader back read-only; and the background work of the writable member follows it.
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TarantoolClient } from '../../src/store/tarantool-client.js'
import { ER, StorageUnavailableError } from '../../src/store/tarantool-errors.js'
import { consoleEval, createSession, holds, outcomeUnknown, memberClient, startCluster, waitHolds, type ClusterMember, type TestCluster } from '../support/cluster.js'
import { missing } from '../support/programs.js'
import { TARANTOOL_BIN, tarantoolVersion } from '../support/tarantool.js'

const PROMOTE = fileURLToPath(new URL('../../scripts/promote.ts', import.meta.url))
const run = promisify(execFile)

/** npm run promote -- --console SOCKET [--force]: its output. */
async function promote (member: ClusterMember, ...flags: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', PROMOTE, '--console', member.console, ...flags])
  return stdout
}

// Tarantool 2.6.0 stalls back-to-back synchronous writes at a quorum of 2 of 3 (tarantool/README.md:
// High availability): with 4 writers at once, at times every write waits out the synchronous
// timeout and is rolled back, for longer than a test waits. One writer there.
const WRITERS = tarantoolVersion()?.numbers.join('.') === '2.6.0' ? 1 : 4

const BACKGROUND = `local f = require('sessions.fibers')
return {f.running('sessions.activity'), f.running('sessions.expiry')}`

/** Which of these members (all by default) run the activity writer and the sweep, as [activity, expiry] each. */
async function background (members: ClusterMember[]): Promise<boolean[][]> {
  return await Promise.all(members.map(async (m) => await consoleEval<boolean[]>(m.console, BACKGROUND)))
}

async function waitFor<T> (what: string, get: () => Promise<T>, expected: T, context?: () => string): Promise<void> {
  const deadline = Date.now() + 15_000
  let last: T
  while (JSON.stringify(last = await get()) !== JSON.stringify(expected)) {
    if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(last)}, not ${JSON.stringify(expected)}${context ? ` (${context()})` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Writes sessions from `concurrency` loops, as a service would: to the member that takes them; a
 * call refused (read-only, or the previous leader's queue not settled yet: not applied) goes to the
 * next member, a call whose outcome is unknown (see outcomeUnknown) is sent again with the same token
 * (sessions.new is idempotent). Anything else is a failure. stop() ends it and returns the tokens
 * acknowledged.
 */
function writer (clients: TarantoolClient[], concurrency = 4): {
  /** Sessions acknowledged by each member so far. */
  byMember: number[]
  /** What it has met so far, for a failure's message. */
  progress: () => string
  stop: () => Promise<{ acknowledged: string[], refused: number, unknown: number, failures: Error[] }>
} {
  const acknowledged: string[] = []
  const byMember = clients.map(() => 0)
  const failures: Error[] = []
  let refused = 0
  let unknown = 0
  let running = true
  let at = 0
  const loop = async (): Promise<void> => {
    let token = randomUUID()
    while (running) {
      const client = clients[at]
      try {
        await client.call('sessions.new', [client.uuid(token), 7, 167772161, null])
        acknowledged.push(token)
        byMember[clients.indexOf(client)]++
        token = randomUUID()
      } catch (err) {
        if (outcomeUnknown(err)) {
          unknown++
        } else if (err instanceof StorageUnavailableError) {
          refused++
          if (clients[at] === client) at = (at + 1) % clients.length
          await new Promise((resolve) => setTimeout(resolve, 5))
        } else {
          failures.push(err as Error)
        }
      }
    }
  }
  const loops = Array.from({ length: concurrency }, async () => await loop())
  return {
    byMember,
    progress: () => `acknowledged by member ${JSON.stringify(byMember)}, refused ${refused}, unknown ${unknown}, ` +
      `failures ${JSON.stringify(failures.map((e) => e.message))}, sending to member ${at}`,
    stop: async () => {
      running = false
      await Promise.all(loops)
      return { acknowledged, refused, unknown, failures }
    }
  }
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('promote', () => {
  let cluster: TestCluster
  const clients: TarantoolClient[] = []
  const acknowledged: string[] = []

  beforeAll(async () => {
    cluster = await startCluster({ synchroTimeout: 1 })
    for (const member of cluster.members) clients.push(await memberClient(member))
  })
  afterAll(async () => {
    for (const client of clients) client.close()
    await cluster?.stop()
  })

  it('runs the activity writer and the sweep on the writable member only', async () => {
    expect(await background(cluster.members)).toEqual([[true, true], [false, false], [false, false]])
    const stats = await Promise.all(clients.map(async (c) => (await c.call('sessions.stats', []))[0] as { expiry: { passes: number } }))
    expect(stats[0].expiry.passes).toBeGreaterThan(0)
    expect(stats.slice(1).map((s) => s.expiry.passes)).toEqual([0, 0])
  })

  it('switches over while sessions are written: the old leader stops, the new one catches up and takes over, nothing acknowledged is lost', async () => {
    const load = writer(clients, WRITERS)
    await waitFor('writes on the first member', async () => load.byMember[0] > 20, true, load.progress)
    expect(await promote(cluster.members[1])).toMatch(/is the writable one in place of the one with id \d+/)
    // The writes move to the new leader.
    await waitFor('writes on the second member', async () => load.byMember[1] > 20, true, load.progress)
    const { acknowledged: written, refused, failures } = await load.stop()
    acknowledged.push(...written)
    expect(failures).toEqual([])
    expect(refused).toBeGreaterThan(0)
    expect(await holds(cluster.members[1], written)).toBe(written.length)
    // Written on both sides of the switch.
    const member = await Promise.all(clients.slice(0, 2).map(async (c) => (await c.call('sessions.member', []))[0] as { ro: boolean, id: number, lsn: number }))
    expect(member.map((m) => m.ro)).toEqual([true, false])
    expect(member[1].lsn).toBeGreaterThan(0)
    await waitFor('the background work follows', async () => await background(cluster.members), [[false, false], [true, true], [false, false]])
  })

  it('says why a planned switchover cannot be made when no writable member answers', async () => {
    cluster.members[1].kill()
    const failed = await promote(cluster.members[2]).catch((err: { stderr: string }) => err.stderr)
    expect(failed).toMatch(/no writable member answered .*use --force/)
    expect(await consoleEval(cluster.members[2].console, 'return box.info.ro')).toBe(true)
  })

  it('fails over with --force after the leader was killed: the acknowledged sessions are on the new leader', async () => {
    expect(await promote(cluster.members[2], '--force')).toMatch(/is the writable one \(forced\)/)
    expect(await holds(cluster.members[2], acknowledged)).toBe(acknowledged.length)
    const token = randomUUID()
    await createSession(clients[2], token)
    acknowledged.push(token)
    await waitFor('the background work follows', async () => (await background([cluster.members[0], cluster.members[2]])), [[false, false], [true, true]])
  })

  it('brings the killed leader back read-only, even as the bootstrap leader, and it catches up', async () => {
    await cluster.members[1].restart()
    await cluster.members[0].stop()
    await cluster.members[0].restart()
    for (const i of [0, 1]) {
      await waitHolds(cluster.members[i], acknowledged)
      expect(await consoleEval(cluster.members[i].console, 'return {box.info.ro, os.getenv("TARANTOOL_BOOTSTRAP_LEADER") or box.NULL}'))
        .toEqual([true, i === 0 ? 'true' : null])
    }
    expect(await background(cluster.members)).toEqual([[false, false], [false, false], [true, true]])
    const replica = await memberClient(cluster.members[0])
    try {
      const refused = await replica.call('sessions.new', [replica.uuid(randomUUID()), 7, 1, null]).catch((err: Error) => err)
      expect(refused).toMatchObject({ applied: 'no', tarantoolCode: ER.READONLY })
    } finally {
      replica.close()
    }
  })
})
