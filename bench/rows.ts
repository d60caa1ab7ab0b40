// The rows of the table: alternating rounds of a workload on the reference and on what a row sets
// beside it (the service, the floor, the Redis script), under wrk or autocannon; and the
// reference's canned answers, the service's own.
import type { AdminConsole } from '../lib/admin-console.js'
import type { Running } from '../lib/processes.js'
import { rateRatio } from './goals.js'
import { round, type RoundResult } from './load.js'
import { REDIS_NEW, settings, WRK } from './options.js'
import { startFloor, startRedis, startRedisPeer, type RunningRedis } from './processes.js'
import { preloadRedis } from './redis-peer.js'
import { row, step, type PeerPair, type Row } from './report.js'
import { WORKLOADS, type Population, type Workload } from './workloads.js'
import { wrkCanRun, wrkRequests, wrkRound, workloadRound, type ListFiles } from './wrk.js'

/** GETs `url` and answers its JSON body; rejects on a status other than 2xx. */
export async function getJson<T> (url: string, timeoutSeconds = 60): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutSeconds * 1000) })
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`)
  return await res.json() as T
}

export interface ListAnswer { status: string, data: Array<Record<string, unknown>>, next: string | null }

/**
 * The reference's canned answers: the size of the service's (sessions with their `id`), five
 * sessions and `next: null` for the lists, as the service answers a user or ip of the table's:
 * the service's own list answer for session `token`'s user, its one session copied five times.
 */
export async function referenceBodies (service: Running, token: string): Promise<Record<string, unknown>> {
  const get = await getJson<{ data: { user_id: number, id?: string } }>(`${service.url}/get?token=${token}`)
  const created = await getJson<{ data: { token: string } }>(`${service.url}/new?user_id=1000000&ip=10.0.0.1`)
  // A session of its own (/new's, removed with the others /new made): the bench's stay unrotated.
  const rotated = await getJson<{ data: { token: string, id?: string } }>(`${service.url}/rotate?token=${created.data.token}`)
  const own = await getJson<ListAnswer>(`${service.url}/user?id=${get.data.user_id}`)
  if (get.data.id === undefined || own.data.length === 0 || own.data[0].id === undefined || own.next !== null ||
    rotated.data.id === undefined || rotated.data.token === created.data.token) {
    throw new Error(`unexpected answers for the reference: ${JSON.stringify({ get, own, rotated }).slice(0, 300)}`)
  }
  const list = { ...own, data: Array.from({ length: 5 }, () => own.data[0]) }
  return { '/get': get, '/new': created, '/del': get, '/user': list, '/ip': list, '/rotate': rotated }
}

export interface Context {
  service: Running
  reference: Running
  console: AdminConsole
  /** The lists wrk's requests pick from (wrk.ts). */
  files: ListFiles
}

/** A server a row measures: its URL, its process, and processes of it that are not its children. */
interface Side {
  url: string
  pid?: number
  extraPids?: Record<string, number>
}

const sideOf = (r: Running, extraPids?: Record<string, number>): Side => ({ url: r.url, pid: r.proc.pid, extraPids })

/** The load generator of a workload's rows: wrk where it is installed and can make its requests. */
export const generatorOf = (workload: Workload): 'wrk' | 'autocannon' =>
  WRK !== undefined && wrkCanRun(workload.key) ? 'wrk' : 'autocannon'

/**
 * Alternating rounds of one workload: the reference, then each of `sides` (the service, or the
 * floor; the service and the Redis script), again and again; a row for each side against the
 * reference's rounds. Under wrk where it can make the workload's requests, else autocannon.
 */
async function measureSides (ctx: Context, label: string, workload: Workload, population: Population, sides: Side[]): Promise<Row[]> {
  const generator = generatorOf(workload)
  const seconds = generator === 'wrk' ? Math.max(1, Math.ceil(settings.load.durationSeconds)) : settings.load.durationSeconds
  const warmup = generator === 'wrk' ? Math.ceil(settings.load.warmupSeconds) : settings.load.warmupSeconds
  step(`${label}: ${settings.rounds} rounds of ${seconds} s each side (${generator}), each after ${warmup} s of warm-up`)
  // One generator for all rounds: the mixed workload's deletes go on where the last round stopped.
  // The reference gets the same requests.
  const wrkReqs = generator === 'wrk' ? wrkRequests(workload.key, population, ctx.files) : undefined
  const requests = workload.requests(population)
  const one = async (side: Side): Promise<RoundResult> => wrkReqs !== undefined
    ? await wrkRound(side.url, wrkReqs, settings.load, side.pid, side.extraPids)
    : await round(side.url, requests, settings.load, side.pid, side.extraPids)
  const reference: RoundResult[] = []
  const out = sides.map(() => [] as RoundResult[])
  for (let i = 0; i < settings.rounds; i++) {
    reference.push(await one(sideOf(ctx.reference)))
    for (const [k, side] of sides.entries()) out[k].push(await one(side))
  }
  return out.map((service) => ({ ...row(label, { reference, service }), generator }))
}

/** 2 s of a workload's load on a server, unmeasured, by the generator of its rows. */
export async function warmUp (ctx: Context, url: string, workload: Workload, population: Population): Promise<void> {
  const load = { ...settings.load, durationSeconds: 2, warmupSeconds: 0 }
  await workloadRound(url, undefined, workload.key, { generator: generatorOf(workload), population, files: ctx.files, load })
}

/** Alternating rounds of one workload against the reference and the service (or `target`). */
export async function measure (ctx: Context, label: string, workload: Workload, population: Population, target = ctx.service): Promise<Row> {
  return (await measureSides(ctx, label, workload, population, [sideOf(target)]))[0]
}

/** The Fastify + Redis script and its redis-server, while they run. */
export interface Peer {
  redis: RunningRedis
  script: Running
}

/** The service and the peer in the same alternating rounds, each against the reference. */
export async function measureWithPeer (ctx: Context, label: string, workload: Workload, population: Population, peer: Peer): Promise<PeerPair> {
  const [service, peerRow] = await measureSides(ctx, label, workload, population,
    [sideOf(ctx.service), sideOf(peer.script, { redis: peer.redis.proc.pid! })])
  return { service, peer: { ...peerRow, workload: `${label} Redis script` }, ratio: rateRatio(service, peerRow) }
}

/** Starts redis-server and the script, with the bench's sessions `population` in the Redis. */
export async function startPeer (dir: string, population: Population): Promise<Peer> {
  const redis = await startRedis(dir)
  try {
    step(`the Redis script: redis-server on port ${redis.port} (appendonly yes, appendfsync no, no snapshots), ${population.to - population.from} sessions`)
    await preloadRedis(redis.port, population)
    const script = await startRedisPeer(dir, redis.port, REDIS_NEW)
    return { redis, script }
  } catch (err) {
    await redis.stop()
    throw err
  }
}

/**
 * /get against the floor (floor.ts): bare Fastify making one call of a Tarantool procedure that
 * does nothing. What a round trip to Tarantool costs, apart from what the service does.
 */
export async function measureFloor (ctx: Context, dir: string, bodies: Record<string, unknown>, population: Population): Promise<Row> {
  step('starting the floor: bare Fastify, one call of a no-op Tarantool procedure per /get')
  const floor = await startFloor(dir, bodies)
  try {
    await warmUp(ctx, floor.url, WORKLOADS.get, population)
    return await measure(ctx, 'floor /get (no-op call)', WORKLOADS.get, population, floor)
  } finally {
    await floor.stop()
  }
}
