// The service on a real 3-member replica set (loopback): it follows the writable member through a
// failover and a planned switchover without a restart, answers only 200 or 503 meanwhile, and loses
// nothing it acknowledged.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SessionWithToken as Session } from '../../src/store/types.js'
import { buildApp, call, ok } from '../support/app.js'
import { consoleEval, leaderOf, startCluster, storedTokens, type TestCluster } from '../support/cluster.js'
import { missing } from '../support/programs.js'
import { TARANTOOL_BIN } from '../support/tarantool.js'

const TIMEOUT_MS = 1000

/**
 * `count` /new with at most `concurrency` at once; `during` starts once a fifth of them are
 * answered, while the rest are still to come. The sessions acknowledged, and every status seen.
 */
async function createMany (app: FastifyInstance, count: number, concurrency: number, during?: () => Promise<void>): Promise<{ acked: Session[], statuses: Map<number, number> }> {
  const acked: Session[] = []
  const statuses = new Map<number, number>()
  let next = 0
  let answered = 0
  let started: Promise<void> | undefined
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      const res = await call<Session>(app, { url: `/new?user_id=${700000 + (i % 50)}&ip=10.1.0.${i % 250}` })
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode === 200) acked.push((res.body as { data: Session }).data)
      if (++answered === Math.floor(count / 5) && during !== undefined) started = during()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  await started
  return { acked, statuses }
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('the service on a replica set', () => {
  let cluster: TestCluster
  let app: FastifyInstance
  beforeAll(async () => {
    cluster = await startCluster()
    app = await buildApp({ uri: cluster.uri, env: { TARANTOOL_TIMEOUT_MS: String(TIMEOUT_MS) } })
  }, 60_000)
  afterAll(async () => {
    await app?.close()
    await cluster?.stop()
  })

  it('writes to the leader and every member has them; a replica down, writes go on', async () => {
    const session = await ok(app, { url: '/new?user_id=1&ip=10.0.0.1' })
    for (const m of cluster.members) {
      await vi.waitFor(async () => { expect((await storedTokens(m.console)).has(session.token)).toBe(true) }, { timeout: 5000, interval: 50 })
    }
    const replica = cluster.members[2]
    replica.kill()
    try {
      // Quorum 2 of 3: still acknowledged.
      const { acked, statuses } = await createMany(app, 200, 20)
      expect([...statuses.keys()]).toEqual([200])
      const onLeader = await storedTokens(cluster.members[await leaderOf(cluster)].console)
      for (const s of acked) expect(onLeader.has(s.token)).toBe(true)
    } finally {
      await replica.restart()
    }
    await vi.waitFor(async () => { expect((await storedTokens(replica.console)).has(session.token)).toBe(true) }, { timeout: 10_000, interval: 100 })
  }, 60_000)

  it('answers 503 within the timeout with two members down, and keeps all it acknowledged', async () => {
    const leader = await leaderOf(cluster)
    const replicas = cluster.members.filter((_, i) => i !== leader)
    for (const r of replicas) r.kill()
    try {
      const started = Date.now()
      const res = await call(app, { url: '/new?user_id=2&ip=10.0.0.2' })
      expect(res.statusCode).toBe(503)
      // The quorum's wait (TARANTOOL_SYNCHRO_TIMEOUT 1 s here) or the service's timeout, whichever first.
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1500)
    } finally {
      for (const r of replicas) await r.restart()
    }
    // Nothing unacknowledged shows up as a session that works later, nor is an acknowledged one lost.
    await vi.waitFor(async () => { expect((await call(app, { url: '/new?user_id=2&ip=10.0.0.2' })).statusCode).toBe(200) }, { timeout: 15_000, interval: 200 })
  }, 60_000)

  it('follows a forced failover after the leader is killed during 5,000 /new: only 200 or 503, nothing acknowledged lost', async () => {
    const leader = await leaderOf(cluster)
    const next = (leader + 1) % cluster.members.length
    const { acked, statuses } = await createMany(app, 5000, 50, async () => {
      cluster.members[leader].kill()
      await consoleEval(cluster.members[next].console, "return require('sessions.switchover').promote({force = true})", 20_000)
    })
    expect([...statuses.keys()].filter((status) => status !== 200 && status !== 503)).toEqual([])
    expect(statuses.get(200)).toBeGreaterThan(0)
    // Every acknowledged session is on the new leader.
    const onNew = await storedTokens(cluster.members[next].console)
    const lost = acked.filter((s) => !onNew.has(s.token))
    expect(lost).toEqual([])
    // And served by the service, which followed without a restart.
    for (const s of acked.slice(-20)) expect((await ok(app, { url: `/get?token=${s.token}` })).id).toBe(s.id)
    // The old leader comes back read-only, catches up, and is not a second writer.
    await cluster.members[leader].restart()
    expect(await consoleEval<boolean>(cluster.members[leader].console, 'return box.info.ro')).toBe(true)
    const last = acked[acked.length - 1]
    await vi.waitFor(async () => { expect((await storedTokens(cluster.members[leader].console)).has(last.token)).toBe(true) }, { timeout: 15_000, interval: 200 })
    expect(await leaderOf(cluster)).toBe(next)
  }, 120_000)

  it('goes through a planned switchover under load: only 200 or 503, nothing acknowledged lost', async () => {
    const leader = await leaderOf(cluster)
    const next = (leader + 1) % cluster.members.length
    const { acked, statuses } = await createMany(app, 2000, 50, async () => {
      await consoleEval(cluster.members[next].console, "return require('sessions.switchover').promote({})", 20_000)
    })
    expect([...statuses.keys()].filter((status) => status !== 200 && status !== 503)).toEqual([])
    expect(await leaderOf(cluster)).toBe(next)
    const onNew = await storedTokens(cluster.members[next].console)
    expect(acked.filter((s) => !onNew.has(s.token))).toEqual([])
    const ready = await ok<{ leader: string }>(app, { url: '/ready' })
    expect(ready.leader).toBe(`127.0.0.1:${cluster.members[next].port}`)
  }, 120_000)
})
