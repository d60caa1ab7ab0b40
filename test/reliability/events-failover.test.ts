// GET /events on a real 3-member replica set: a stream open through a forced failover goes on with
// the new leader's events, in order, none twice, and every acknowledged session's `created` among
// them; a stream resumed afterwards from its first event reads the very same ones.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SessionWithToken as Session } from '../../src/store/types.js'
import { buildApp, call } from '../support/app.js'
import { consoleEval, leaderOf, startCluster, type TestCluster } from '../support/cluster.js'
import { missing } from '../support/programs.js'
import { eventsOf, open } from '../support/sse.js'
import { TARANTOOL_BIN } from '../support/tarantool.js'

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('session events on a replica set', () => {
  let cluster: TestCluster
  let app: FastifyInstance
  let base: string
  beforeAll(async () => {
    cluster = await startCluster()
    app = await buildApp({ uri: cluster.uri, env: { TARANTOOL_TIMEOUT_MS: '1000' } })
    await app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  }, 60_000)
  afterAll(async () => {
    await app?.close()
    await cluster?.stop()
  })

  it('go on through a forced failover: in order, none twice, every acknowledged session\'s created there, and the same when resumed', async () => {
    const user = 880_000 + Math.floor(Math.random() * 1000)
    const stream = await open(base)
    try {
      await stream.until((f) => f.some((x) => x.comment === 'connected'))
      const leader = await leaderOf(cluster)
      const next = (leader + 1) % cluster.members.length
      const acked: Session[] = []
      let failedOver: Promise<unknown> | undefined
      let i = 0
      const worker = async (): Promise<void> => {
        while (i < 600) {
          const n = i++
          const res = await call<Session>(app, { url: `/new?user_id=${user}&ip=10.2.0.${n % 250}` })
          expect([200, 503]).toContain(res.statusCode)
          if (res.statusCode === 200) acked.push((res.body as { data: Session }).data)
          if (n === 150) {
            cluster.members[leader].kill()
            failedOver = consoleEval(cluster.members[next].console, "return require('sessions.switchover').promote({force = true})", 20_000)
          }
        }
      }
      await Promise.all(Array.from({ length: 20 }, worker))
      await failedOver
      const ids = new Set(acked.map((s) => s.id))
      await stream.until((f) => {
        const created = new Set(eventsOf(f, [user]).map((e) => e.id))
        return [...ids].every((id) => created.has(id))
      }, 20_000)
      const events = eventsOf(stream.frames, [user])
      const seqs = events.map((e) => e.seq)
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
      expect(new Set(seqs).size).toBe(seqs.length)
      expect(stream.frames.some((f) => f.event === 'reset')).toBe(false)

      const resumed = await open(base, { 'last-event-id': String(seqs[0] - 1) })
      try {
        await resumed.until((f) => eventsOf(f, [user]).length >= events.length, 20_000)
        expect(eventsOf(resumed.frames, [user]).slice(0, events.length).map((e) => e.seq)).toEqual(seqs)
      } finally {
        resumed.close()
      }
    } finally {
      stream.close()
    }
  }, 120_000)
})
