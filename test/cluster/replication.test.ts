// A replica set of three real members (test/support/cluster.ts), without elections (Tarantool 2.6.0
// has none): what the writable member acknowledges is on a quorum of members, and stays.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { TarantoolClient } from '../../src/store/tarantool-client.js'
import { ER, StorageError, StorageUnavailableError } from '../../src/store/tarantool-errors.js'
import { consoleEval, createSession, holds, memberClient, startCluster, waitHolds, type TestCluster } from '../support/cluster.js'
import { missing } from '../support/programs.js'
import { healthcheck, TARANTOOL_BIN } from '../support/tarantool.js'

const SYNCHRO_TIMEOUT_S = 1

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('a replica set', () => {
  let cluster: TestCluster
  let leader: TarantoolClient
  const clients: TarantoolClient[] = []
  const acknowledged: string[] = []

  const create = async (token = randomUUID()): Promise<string> => {
    await createSession(leader, token)
    acknowledged.push(token)
    return token
  }

  beforeAll(async () => {
    cluster = await startCluster({ synchroTimeout: SYNCHRO_TIMEOUT_S })
    for (const member of cluster.members) clients.push(await memberClient(member))
    leader = clients[0]
  })
  afterAll(async () => {
    for (const client of clients) client.close()
    await cluster?.stop()
  })

  it('tells each member what it is, through sessions.member()', async () => {
    const replies = await Promise.all(clients.map(async (client) => (await client.call('sessions.member', []))[0] as Record<string, unknown>))
    const uuids = replies.map((r) => r.uuid)
    expect(new Set(uuids).size).toBe(3)
    replies.forEach((reply, i) => {
      expect(reply).toMatchObject({
        id: expect.any(Number),
        ro: i !== 0,
        writable: i === 0,
        status: 'running',
        version: expect.stringMatching(/^\d+\.\d+\.\d+/),
        lsn: expect.any(Number),
        elections: false,
        synchro_quorum: 2
      })
      const peers = reply.replication as Array<Record<string, unknown>>
      expect(peers.map((p) => p.uuid).sort()).toEqual([...uuids].sort())
      for (const peer of peers) {
        if (peer.uuid === reply.uuid) {
          expect(peer.upstream).toBeUndefined()
        } else {
          expect(peer).toMatchObject({ upstream: { status: 'follow', lag: expect.any(Number) }, downstream: { status: 'follow' } })
        }
      }
    })
  })

  // The containers' healthcheck (tarantool/healthcheck.lua), as docker-compose.ha.yml runs it.
  const healthOf = (member: TestCluster['members'][number]): ReturnType<typeof healthcheck> =>
    healthcheck(member.port, /:([^:@]+)@/.exec(member.uri)![1], cluster.members.map((m) => `127.0.0.1:${m.port}`).join(','))

  it('passes the container healthcheck on every member that serves and follows', () => {
    for (const member of cluster.members) expect(healthOf(member)).toEqual({ code: 0, output: '' })
  })

  it('lets the replication user replicate and step a member down, nothing else; the service user may not step one down', async () => {
    const replica = cluster.members[1]
    const password = await consoleEval<string>(replica.console, "return os.getenv('TARANTOOL_REPLICATION_PASSWORD')")
    const peer = new TarantoolClient({ host: '127.0.0.1', port: replica.port, user: 'replicator', password, timeoutMs: 5_000 })
    try {
      await peer.waitConnected(5_000)
      // On a read-only member it changes nothing, and tells what the member has.
      const [answer] = await peer.call('sessions_peer.step_down', []) as [Record<string, unknown>]
      expect(answer).toMatchObject({ was_writable: false, settled: true, vclock: expect.any(Array) })
      for (const name of ['sessions.stats', 'sessions.member', 'LUA', 'box.schema.user.info']) {
        const denied = await peer.call(name, name === 'LUA' ? ['return 1'] : []).catch((err: Error) => err)
        expect(denied).toBeInstanceOf(StorageError)
        expect((denied as Error).message).toMatch(/denied/i)
      }
    } finally {
      peer.close()
    }
    const denied = await clients[1].call('sessions_peer.step_down', []).catch((err: Error) => err)
    expect(denied).toBeInstanceOf(StorageError)
    expect((denied as Error).message).toMatch(/denied/i)
    expect(await consoleEval(cluster.members[0].console, 'return box.info.ro')).toBe(false)
  })

  it('makes sessions and its companions synchronous on every member', async () => {
    for (const member of cluster.members) {
      expect(await consoleEval(member.console, 'return {box.space.sessions.is_sync, box.space.sessions_deadlines.is_sync, box.space.sessions_aliases.is_sync}'))
        .toEqual([true, true, true])
    }
  })

  it('replicates the writes of the writable member to every member, and refuses writes on the others', async () => {
    const tokens = await Promise.all(Array.from({ length: 20 }, async () => await create()))
    for (const member of cluster.members) await waitHolds(member, tokens)
    for (const replica of clients.slice(1)) {
      const refused = await replica.call('sessions.new', [replica.uuid(randomUUID()), 1, 1, null]).catch((err: Error) => err)
      expect(refused).toBeInstanceOf(StorageUnavailableError)
      expect(refused).toMatchObject({ applied: 'no', tarantoolCode: ER.READONLY })
    }
  })

  it('goes on writing with one member down: a quorum is two of three', async () => {
    cluster.members[2].kill()
    const tokens = await Promise.all(Array.from({ length: 20 }, async () => await create()))
    expect(await holds(cluster.members[0], tokens)).toBe(20)
    await waitHolds(cluster.members[1], tokens)
  })

  it('refuses a write without its quorum within the synchronous timeout, and keeps every acknowledged one', async () => {
    cluster.members[1].kill()
    const lost = randomUUID()
    const started = Date.now()
    const failed = await leader.call('sessions.new', [leader.uuid(lost), 1, 1, null]).catch((err: Error) => err)
    const took = Date.now() - started
    // Not acknowledged, and said so: its outcome is unknown to the client (the quorum may yet come).
    expect(failed).toBeInstanceOf(StorageUnavailableError)
    expect(failed).toMatchObject({ applied: 'unknown', tarantoolCode: ER.SYNC_QUORUM_TIMEOUT })
    expect(took).toBeGreaterThanOrEqual(SYNCHRO_TIMEOUT_S * 1000 - 100)
    expect(took).toBeLessThan(SYNCHRO_TIMEOUT_S * 1000 + 2000)
    // The leader rolled it back; what was acknowledged is there.
    expect(await holds(cluster.members[0], [lost])).toBe(0)
    expect(await holds(cluster.members[0], acknowledged)).toBe(acknowledged.length)

    // The members come back on their data, read-only, and receive all they missed: the rolled
    // back write is nowhere.
    await Promise.all([cluster.members[1].restart(), cluster.members[2].restart()])
    for (const member of cluster.members.slice(1)) {
      await waitHolds(member, acknowledged)
      expect(await holds(member, [lost])).toBe(0)
      expect(await consoleEval(member.console, 'return box.info.ro')).toBe(true)
    }
    await create()

    // A read-only member that follows nobody (the others gone) fails the healthcheck.
    cluster.members[2].kill()
    cluster.members[0].kill()
    await vi.waitFor(() => {
      expect(healthOf(cluster.members[1])).toEqual({ code: 1, output: 'unhealthy: read-only and following no member\n' })
    }, { timeout: 10_000, interval: 200 })
  })
})
