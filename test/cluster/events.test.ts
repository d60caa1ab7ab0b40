// Session events in a replica set (tarantool/sessions/events.lua): replicated with the sessions,
// synchronous as they are, read on every member once committed there, a follower's long poll woken
// by what replication applies, and the sequence going on after a switchover.
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TarantoolClient } from '../../src/store/tarantool-client.js'
import { consoleEval, createSession, memberClient, startCluster, type ClusterMember, type TestCluster } from '../support/cluster.js'
import { missing } from '../support/programs.js'
import { TARANTOOL_BIN } from '../support/tarantool.js'

const PROMOTE = fileURLToPath(new URL('../../scripts/promote.ts', import.meta.url))
const run = promisify(execFile)

interface Page { events: Array<[number, string, string]>, newest: number, synchronous: boolean }

/** A member's committed events (seq, type, key), its newest seq, and whether the space is as synchronous as the sessions'. */
async function page (member: ClusterMember): Promise<Page> {
  return await consoleEval<Page>(member.console, `
    local p = sessions.events_page(0, 1000)
    local out = {}
    for i, e in ipairs(p.events) do out[i] = {e[1], e[3], e[5]:str()} end
    local s = box.space
    return {events = out, newest = p.newest, synchronous = s.sessions_events.is_sync == s.sessions.is_sync and s.sessions.is_sync}`)
}

async function waitNewest (member: ClusterMember, newest: number): Promise<Page> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const current = await page(member)
    if (current.newest >= newest || Date.now() > deadline) return current
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('session events in a replica set', () => {
  let cluster: TestCluster
  const clients: TarantoolClient[] = []
  const tokens: string[] = []

  beforeAll(async () => {
    cluster = await startCluster()
    for (const member of cluster.members) clients.push(await memberClient(member))
  })
  afterAll(async () => {
    for (const client of clients) client.close()
    await cluster?.stop()
  })

  it('are replicated, synchronous as the sessions, and the same on every member', async () => {
    for (let i = 0; i < 5; i++) {
      tokens.push(randomUUID())
      await createSession(clients[0], tokens[i])
    }
    const leader = await page(cluster.members[0])
    expect(leader.synchronous).toBe(true)
    expect(leader.events.map((e) => [e[1], e[2]])).toEqual(tokens.map((token) => ['created', token]))
    for (const member of cluster.members.slice(1)) expect(await waitNewest(member, leader.newest)).toEqual(leader)
  })

  it('wake a follower\'s long poll, as the service user, when replication brings one', async () => {
    const { newest } = await page(cluster.members[0])
    const waiting = clients[2].call('sessions.events_wait', [newest, 5])
    await new Promise((resolve) => setTimeout(resolve, 100))
    const started = Date.now()
    tokens.push(randomUUID())
    await createSession(clients[0], tokens.at(-1)!)
    const [answer] = await waiting as [{ events: unknown[], newest: number }]
    expect(Date.now() - started).toBeLessThan(1000)
    expect(answer.events).toHaveLength(1)
    expect(answer.newest).toBe(newest + 1)
  })

  it('go on after a switchover: the new leader numbers its events after every one before', async () => {
    const before = await page(cluster.members[0])
    await run(process.execPath, ['--import', 'tsx', PROMOTE, '--console', cluster.members[1].console])
    const token = randomUUID()
    await createSession(clients[1], token)
    const after = await page(cluster.members[1])
    expect(after.events.slice(0, before.events.length)).toEqual(before.events)
    const [last] = after.events.slice(before.events.length)
    expect(last[1]).toBe('created')
    expect(last[2]).toBe(token)
    expect(last[0]).toBeGreaterThan(before.newest)
    expect(await waitNewest(cluster.members[0], after.newest)).toEqual(after)
  })
})
