import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import { FastHistogram } from '../http/histogram.js'
import type { StoreStats } from '../store/types.js'
import type { CallOutcome, ConnectionState, MemberState } from '../store/tarantool.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry
  }
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
// Requests that matched no route share one label value: the URL of a 404 is the caller's choice.
const UNMATCHED = 'unmatched'

/**
 * Prometheus metrics at /metrics: the process (Node's defaults), HTTP requests per route and status,
 * the Tarantool connection and calls, and the sessions themselves. Needs the tarantool plugin.
 */
async function metrics (app: FastifyInstance): Promise<void> {
  const registry = new Registry()
  const registers = [registry]
  collectDefaultMetrics({ register: registry })
  app.decorate('metrics', registry)

  // HTTP
  const latency = new FastHistogram('http_request_duration_seconds', 'Time from a request\'s arrival to its answer',
    ['method', 'route', 'status'], LATENCY_BUCKETS, registry)
  latency.registerCount('http_requests_total', 'HTTP requests answered', registry)
  // Node-side counts of successful calls (summed over the service's instances).
  const created = new Counter({ name: 'sessions_created_total', help: 'Sessions created by /new', registers })
  const deleted = new Counter({ name: 'sessions_deleted_total', help: 'Sessions ended by /del', registers })
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? UNMATCHED
    latency.observe([request.method, route, String(reply.statusCode)], reply.elapsedTime / 1000)
    if (reply.statusCode === 200) {
      if (route === '/new') created.inc()
      else if (route === '/del') deleted.inc()
    }
    done()
  })

  // The connection
  const states: ConnectionState[] = ['connecting', 'connected', 'disconnected', 'auth_failed', 'closed']
  new Gauge({
    name: 'tarantool_connection_state',
    help: 'The state of the connection to Tarantool: 1 for the current one',
    labelNames: ['state'],
    registers,
    collect () {
      for (const state of states) this.set({ state }, app.tarantool.state === state ? 1 : 0)
    }
  })
  // A replica set: each member as the service last saw it (a single instance, a set of one, is the
  // connection above).
  const client = app.tarantool
  if (client.members().length > 1) {
    const memberGauge = (name: string, help: string, value: (m: MemberState) => number | undefined): void => {
      new Gauge({
        name,
        help,
        labelNames: ['member'],
        registers,
        collect () {
          this.reset()
          for (const m of client.members()) {
            const v = value(m)
            if (v !== undefined) this.set({ member: m.address }, v)
          }
        }
      })
    }
    memberGauge('tarantool_member_up', '1 if the member is connected and answered its last role report', (m) => m.connection === 'connected' && m.ro !== undefined ? 1 : 0)
    memberGauge('tarantool_member_leader', '1 for the writable member the calls go to', (m) => m.leader ? 1 : 0)
    memberGauge('tarantool_member_read_only', '1 if the member reports itself read-only', (m) => m.ro === undefined ? undefined : m.ro ? 1 : 0)
    memberGauge('tarantool_member_replication_lag_seconds', 'The largest replication lag the member reports from another member', (m) => m.lag)
    const changes = new Counter({ name: 'tarantool_leader_changes_total', help: 'Changes of the writable member (none included)', registers })
    client.on('leader', () => changes.inc())
  }
  const disconnects = new Counter({ name: 'tarantool_disconnects_total', help: 'Connections to Tarantool lost', registers })
  app.tarantool.on('disconnect', () => disconnects.inc())
  const calls = new FastHistogram('tarantool_call_duration_seconds',
    'Calls of Tarantool procedures, by how they ended: ok, unavailable (answered 503) or error',
    ['procedure', 'outcome'], LATENCY_BUCKETS, registry)
  app.tarantool.on('call', (procedure: string, seconds: number, outcome: CallOutcome) => {
    calls.observe([procedure, outcome], seconds)
  })

  // Session events (GET /events)
  new Gauge({
    name: 'sessions_event_streams',
    help: 'Streams of GET /events open on this process',
    registers,
    collect () { this.set(app.events.subscribers) }
  })

  // Tarantool's own figures, read at each scrape.
  const up = new Gauge({ name: 'tarantool_up', help: '1 if Tarantool answered the scrape\'s stats call, else 0', registers })
  const gauges: Array<[Gauge, (s: StoreStats) => number]> = [
    [new Gauge({ name: 'sessions_stored', help: 'Sessions in Tarantool, expired ones not yet swept included', registers }), (s) => s.sessions],
    [new Gauge({ name: 'sessions_sweep_last_duration_seconds', help: 'Duration of the last expiry pass', registers }), (s) => s.expiry.last_pass_seconds],
    [new Gauge({ name: 'sessions_with_own_expiry', help: 'Stored sessions with a ttl or lifetime of their own', registers }), (s) => s.deadlines ?? 0],
    [new Gauge({ name: 'sessions_rotation_aliases', help: 'Keys kept after rotations: the first key of each rotated session, and old tokens within their grace', registers }), (s) => s.aliases ?? 0]
  ]
  // Kept by Tarantool since it started: a restart of Tarantool resets them, as counters may.
  const counters: Array<[Counter, (s: StoreStats) => number]> = [
    [new Counter({ name: 'sessions_expired_total', help: 'Sessions deleted by the expiry sweep', registers }), (s) => s.expiry.expired],
    [new Counter({ name: 'sessions_sweep_batches_total', help: 'Expiry transactions that deleted sessions (expired / batches: mean batch size)', registers }), (s) => s.expiry.batches],
    [new Counter({ name: 'sessions_sweep_passes_total', help: 'Full expiry passes', registers }), (s) => s.expiry.passes],
    [new Counter({ name: 'sessions_sweep_seconds_total', help: 'Time spent in expiry passes', registers }), (s) => s.expiry.pass_seconds],
    [new Counter({ name: 'sessions_activity_marked_total', help: 'New activity seconds taken by /get, to be written shortly after', registers }), (s) => s.activity?.marked ?? 0],
    [new Counter({ name: 'sessions_sweep_scanned_total', help: 'Entries the expiry sweep looked at (what was due, and what it passed over)', registers }), (s) => s.expiry.scanned ?? 0],
    [new Counter({ name: 'sessions_evicted_total', help: 'Sessions ended by /new to keep a user within MAX_SESSIONS_PER_USER', registers }), (s) => s.limits?.evicted ?? 0],
    [new Counter({ name: 'sessions_limit_denied_total', help: '/new refused with too_many_sessions', registers }), (s) => s.limits?.denied ?? 0],
    [new Counter({ name: 'sessions_activity_written_total', help: 'Activity seconds written (marked minus those superseded or of deleted sessions)', registers }), (s) => s.activity?.written ?? 0]
  ]
  const refresh = async (): Promise<void> => {
    const stats = await app.store.stats().catch(() => undefined)
    up.set(stats === undefined ? 0 : 1)
    if (stats === undefined) return
    for (const [gauge, read] of gauges) gauge.set(read(stats))
    for (const [counter, read] of counters) {
      counter.reset()
      counter.inc(read(stats))
    }
  }

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    await refresh()
    reply.type(registry.contentType)
    return await registry.metrics()
  })
}

export default fp(metrics, { name: 'metrics', fastify: '5.x', dependencies: ['tarantool', 'events'] })
