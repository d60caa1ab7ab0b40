// The service on a replica set that elects its leader (election_mode = candidate, Raft), as
// docker-compose.ha.yml runs it on Tarantool 2.11, with its defaults (replication_timeout 1 s,
// election_timeout 5 s, replication_synchro_timeout 5 s, election_fencing_mode strict) and the
// service's (TARANTOOL_TIMEOUT_MS 1 s). Nothing is done by hand: the leader is killed, frozen and
// thawed, or another member promotes itself, while the service writes; a new leader is elected,
// the service follows it, answers only 200 or 503 meanwhile, and every session it acknowledged is
// on the new leader. Elections with fencing and box.ctl.promote() need Tarantool 2.10 or later.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SessionWithToken as Session } from '../../src/store/types.js'
import { StorageUnavailableError } from '../../src/store/tarantool-errors.js'
import { buildApp, call, ok, uniqueUserId } from '../support/app.js'
import { consoleEval, holds, memberClient, startCluster, storedTokens, type ClusterMember, type TestCluster } from '../support/cluster.js'
import { missing } from '../support/programs.js'
import { TARANTOOL_BIN, tarantoolAtLeast, tarantoolVersion } from '../support/tarantool.js'

const SERVICE_TIMEOUT_MS = 1000
// The production default: a synchronous write without its quorum waits this long (seconds).
const SYNCHRO_TIMEOUT_S = 5
// Concurrent /new loops, and the most requests one load may make (a bound, not a target).
const WRITERS = 4
const MAX_REQUESTS = 20_000
// Past this an election (or the service's following it) counts as failed.
const ELECTION_WAIT_MS = 30_000

interface Election { id: number, state: string, term: number, leader: number, ro: boolean }

const ELECTION = 'local e = box.info.election return {id = box.info.id, state = e.state, term = e.term, leader = e.leader, ro = box.info.ro}'

/** What the member says of its election; undefined when it does not answer (dead, or frozen). */
async function election (member: ClusterMember): Promise<Election | undefined> {
  return await consoleEval<Election>(member.console, ELECTION, 2_000).catch(() => undefined)
}

/**
 * Waits until these members agree on one leader among them in a term above `aboveTerm`: exactly
 * one says it is the leader and is writable, every other one follows it in that term. Its index
 * in `members`, and the term.
 */
async function oneLeader (members: ClusterMember[], aboveTerm = 0): Promise<{ index: number, id: number, term: number }> {
  const deadline = Date.now() + ELECTION_WAIT_MS
  for (;;) {
    const states = await Promise.all(members.map(election))
    const leaders = states.flatMap((s, index) => (s?.state === 'leader' && !s.ro ? [{ index, id: s.id, term: s.term }] : []))
    if (leaders.length === 1 && leaders[0].term > aboveTerm &&
      states.every((s) => s !== undefined && s.term === leaders[0].term && s.leader === leaders[0].id && (s.id === leaders[0].id || s.ro))) {
      return leaders[0]
    }
    if (Date.now() > deadline) throw new Error(`no single leader above term ${aboveTerm}: ${JSON.stringify(states)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const runningLoads = new Set<Array<Promise<void>>>()
let stopLoads = false

interface Answer { status: number, startedAt: number, endedAt: number, token?: string }

/**
 * `WRITERS` loops of /new through the service, each sending its next request when the previous
 * one is answered, until stop() or MAX_REQUESTS. Every answer is kept.
 */
function load (app: FastifyInstance): {
  answers: Answer[]
  /** Resolves once `count` writes started at `since` or later are acknowledged. */
  acknowledged: (count: number, since?: number) => Promise<void>
  stop: () => Promise<Answer[]>
} {
  const answers: Answer[] = []
  const firstUser = uniqueUserId()
  let running = true
  let sent = 0
  const writer = async (): Promise<void> => {
    while (running && !stopLoads && sent < MAX_REQUESTS) {
      const i = sent++
      const startedAt = Date.now()
      const res = await call<Session>(app, { url: `/new?user_id=${firstUser + (i % 100)}&ip=10.3.${(i >> 8) % 256}.${i % 256}` })
      answers.push({ status: res.statusCode, startedAt, endedAt: Date.now(), token: res.body.status === 'success' ? res.body.data.token : undefined })
      // A client's next request comes over the network: the event loop turns in between. Without
      // that, app.inject() answers that fail at once (a connection being closed) chain as
      // promises only, and starve the socket events and timers the service needs to recover.
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  const writers = Array.from({ length: WRITERS }, writer)
  // A test that fails midway leaves its load to afterAll, which stops it before the app closes.
  runningLoads.add(writers)
  void Promise.all(writers).then(() => runningLoads.delete(writers))
  return {
    answers,
    acknowledged: async (count, since = 0) => {
      await vi.waitFor(() => {
        if (!running || sent >= MAX_REQUESTS) throw new Error(`the load ended: ${JSON.stringify(summary(answers))}`)
        expect(answers.filter((a) => a.status === 200 && a.startedAt >= since).length).toBeGreaterThanOrEqual(count)
      }, { timeout: ELECTION_WAIT_MS, interval: 20 })
    },
    stop: async () => {
      running = false
      await Promise.all(writers)
      return answers
    }
  }
}

/** How many answers of each status. */
function summary (answers: Answer[]): Record<number, number> {
  const out: Record<number, number> = {}
  for (const { status } of answers) out[status] = (out[status] ?? 0) + 1
  return out
}

/** The tokens acknowledged among these answers. */
const tokensOf = (answers: Answer[]): string[] => answers.flatMap((a) => (a.token === undefined ? [] : [a.token]))

/** Every status other than 200 and 503 among these answers, with how many of each. */
function unexpected (answers: Answer[]): Record<number, number> {
  return Object.fromEntries(Object.entries(summary(answers)).filter(([status]) => status !== '200' && status !== '503'))
}

/** ms from `since` to the first acknowledgement of a write started then or later. */
function firstAcknowledged (answers: Answer[], since: number): number {
  return Math.min(...answers.filter((a) => a.status === 200 && a.startedAt >= since).map((a) => a.endedAt)) - since
}

const version = tarantoolVersion()?.text ?? 'none'

const withElections = tarantoolAtLeast(2, 10)
// Said in the run's output: a whole file skipped shows only as a count there.
if (TARANTOOL_BIN !== undefined && !withElections) console.log(`elections: skipped, ${version} has none with fencing and box.ctl.promote() (2.10 and later)`)

describe.skipIf(missing('tarantool', TARANTOOL_BIN) || !withElections)(
  withElections ? 'elections' : `elections: skipped, ${version} has none with fencing and box.ctl.promote() (2.10 and later)`, () => {
    let cluster: TestCluster
    let app: FastifyInstance
    // Sessions acknowledged so far, by every test: each is checked on the leader at the end.
    const acknowledged: string[] = []
    // The member the first test killed.
    let killed: ClusterMember

    beforeAll(async () => {
      cluster = await startCluster({ synchroTimeout: SYNCHRO_TIMEOUT_S, env: { TARANTOOL_ELECTION_MODE: 'candidate' } })
      app = await buildApp({ uri: cluster.uri, env: { TARANTOOL_TIMEOUT_MS: String(SERVICE_TIMEOUT_MS) } })
    }, 60_000)
    afterAll(async () => {
      stopLoads = true
      await Promise.all([...runningLoads].flat())
      await app?.close()
      await cluster?.stop()
    })

    it('elects a new leader when the leader is killed under writes: the service writes again, only 503 meanwhile, nothing acknowledged lost', { timeout: 90_000 }, async () => {
      const before = await oneLeader(cluster.members)
      killed = cluster.members[before.index]
      const survivors = cluster.members.filter((m) => m !== killed)
      const writes = load(app)
      await writes.acknowledged(50)

      const killedAt = Date.now()
      killed.kill()
      const after = await oneLeader(survivors, before.term)
      const electedMs = Date.now() - killedAt
      await writes.acknowledged(50, killedAt)
      const answers = await writes.stop()

      expect(unexpected(answers)).toEqual({})
      const tokens = tokensOf(answers)
      acknowledged.push(...tokens)
      const onLeader = await storedTokens(survivors[after.index].console)
      expect(tokens.filter((t) => !onLeader.has(t))).toEqual([])
      const ready = await ok<{ leader: string }>(app, { url: '/ready' })
      expect(ready.leader).toBe(`127.0.0.1:${survivors[after.index].port}`)
      console.log(`elections: leader killed; a new one elected (term ${before.term} -> ${after.term}) within ${electedMs} ms, ` +
        `the first write acknowledged again ${firstAcknowledged(answers, killedAt)} ms after the kill; ` +
        `${answers.filter((a) => a.status === 503).length} answers 503, ${tokens.length} sessions acknowledged`)
    })

    it('brings the killed leader back, started as before, as a follower of the new leader that catches up', { timeout: 60_000 }, async () => {
      const current = await oneLeader(cluster.members.filter((m) => m !== killed))
      await killed.restart()
      const all = await oneLeader(cluster.members)
      expect(all.id).toBe(current.id)
      expect(all.term).toBe(current.term)
      expect(await election(killed)).toMatchObject({ state: 'follower', term: current.term, leader: current.id, ro: true })
      await vi.waitFor(async () => { expect(await holds(killed, acknowledged)).toBe(acknowledged.length) }, { timeout: 15_000, interval: 200 })
      // The service kept the same leader, and writes.
      const session = await ok(app, { url: `/new?user_id=${uniqueUserId()}&ip=10.3.255.1` })
      acknowledged.push(session.token)
      expect((await ok<{ leader: string }>(app, { url: '/ready' })).leader).toBe(`127.0.0.1:${cluster.members[all.index].port}`)
    })

    it('fences a frozen leader: once thawed it is a follower, what it was sent while stale is nowhere, nothing acknowledged lost', { timeout: 90_000 }, async () => {
      const before = await oneLeader(cluster.members)
      const frozen = cluster.members[before.index]
      const others = cluster.members.filter((m) => m !== frozen)
      // Connected before the freeze: the write it sends is read by the leader when it thaws.
      const direct = await memberClient(frozen, 60_000)
      // A failure while it is frozen must not leave it so for the next test.
      let thaw = (): void => {}
      try {
        const writes = load(app)
        await writes.acknowledged(50)

        const frozenAt = Date.now()
        frozen.signal('SIGSTOP')
        thaw = () => { frozen.signal('SIGCONT') }
        const stale = randomUUID()
        const staleWrite = direct.call('sessions.new', [direct.uuid(stale), 1, 167772161, null]).then(() => undefined, (err: Error) => err)
        const after = await oneLeader(others, before.term)
        await writes.acknowledged(50, frozenAt)
        frozen.signal('SIGCONT')

        // It takes no write while stale: the one waiting for it fails...
        const outcome = await staleWrite
        expect(outcome).toBeInstanceOf(StorageUnavailableError)
        // ...and it follows the new leader, as the others do: its return moved nothing.
        const thawed = await oneLeader(cluster.members, before.term)
        expect(thawed).toMatchObject({ id: after.id, term: after.term })
        const answers = await writes.stop()
        expect(unexpected(answers)).toEqual({})
        const tokens = tokensOf(answers)
        acknowledged.push(...tokens)

        const leader = cluster.members[thawed.index]
        const onLeader = await storedTokens(leader.console)
        expect(tokens.filter((t) => !onLeader.has(t))).toEqual([])
        // Once every member has all that was acknowledged, the write sent to the stale leader is on none.
        for (const member of cluster.members) {
          await vi.waitFor(async () => { expect(await holds(member, tokens)).toBe(tokens.length) }, { timeout: 15_000, interval: 200 })
          expect(await holds(member, [stale])).toBe(0)
        }
        console.log(`elections: leader frozen; a new one elected (term ${before.term} -> ${after.term}) within ${Date.now() - frozenAt} ms ` +
          `of the freeze, the first write acknowledged again ${firstAcknowledged(answers, frozenAt)} ms after it; ` +
          `the write sent to the frozen leader: ${(outcome as Error).message}`)
      } finally {
        thaw()
        direct.close()
      }
    })

    it('moves the leadership to a follower that calls box.ctl.promote() under writes: a new term, one leader, nothing acknowledged lost', { timeout: 90_000 }, async () => {
      const before = await oneLeader(cluster.members)
      const target = cluster.members[(before.index + 1) % cluster.members.length]
      const writes = load(app)
      await writes.acknowledged(50)

      const promotedAt = Date.now()
      // A follower that lags may lose the election it starts (the others vote only for a member as
      // up to date as they are): promote() then fails, and a later term has another leader.
      const promoted = await consoleEval(target.console, 'box.ctl.promote() return box.info.election.term', ELECTION_WAIT_MS)
        .then((term) => ({ term: term as number }), (err: Error) => err)
      const after = await oneLeader(cluster.members, before.term)
      if (!(promoted instanceof Error)) expect(cluster.members[after.index]).toBe(target)
      await writes.acknowledged(50, promotedAt)
      const answers = await writes.stop()

      expect(unexpected(answers)).toEqual({})
      const tokens = tokensOf(answers)
      acknowledged.push(...tokens)
      const leader = cluster.members[after.index]
      // Exactly one leader, in the new term, and the service writes to it.
      expect(await oneLeader(cluster.members, before.term)).toEqual(after)
      expect((await ok<{ leader: string }>(app, { url: '/ready' })).leader).toBe(`127.0.0.1:${leader.port}`)
      const onLeader = await storedTokens(leader.console)
      expect(acknowledged.filter((t) => !onLeader.has(t))).toEqual([])
      console.log(`elections: box.ctl.promote() on a follower: ${promoted instanceof Error ? `failed (${promoted.message}), ` : ''}` +
        `term ${before.term} -> ${after.term}, the first write acknowledged again ${firstAcknowledged(answers, promotedAt)} ms after it`)
    })
  })
