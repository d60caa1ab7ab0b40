// The bench's arithmetic and its CPU meter (the bench itself runs apart: npm run bench).
import { spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'
import type { Instance } from 'autocannon'
import { describe, expect, it, vi } from 'vitest'
import { cpuMeter, mainThreadOf, totalOf } from '../bench/cpu.js'
import { ipOf, randomUser, tokenOf, userRange } from '../bench/dataset.js'
import { cpuFigures, getsPerTarantool, GOALS, meets, rateRatio, verdicts } from '../bench/goals.js'
import { measure, round as runRound, startRound, summarize, type RoundResult } from '../bench/load.js'
import { timeByCategory, type ProfileNode } from '../bench/profile-categories.js'
import { summarize as latencySummary } from '../bench/events-revocation.js'
import { cpuTable, median, percentile, row, type Row } from '../bench/report.js'
import { ListFiles, parseWrkOutput, wrkCanRun, wrkRequests, wrkResult } from '../bench/wrk.js'

const round = (rps: number, p99: number, cpu?: Record<string, number>): RoundResult =>
  ({ rps, p50: 1, p99, non2xx: 0, errors: 0, ...(cpu === undefined ? {} : { cpu }) })

describe('bench report', () => {
  it('takes medians of the rounds and of the per-round ratios', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    const r = row('/get', {
      reference: [round(100, 4), round(200, 4), round(100, 8)],
      service: [round(80, 6), round(100, 8), round(90, 8)]
    })
    expect(r.service.rps).toBe(90)
    expect(r.reference.rps).toBe(100)
    // Round by round: 0.8, 0.5, 0.9; p99 1.5, 2, 1.
    expect(r.ratio.rps).toBe(0.8)
    expect(r.ratio.p99).toBe(1.5)
    expect(r.cpu).toBeUndefined()
    expect(cpuTable([r])).toBeUndefined()
  })

  it('takes percentiles by nearest rank, and counts a give-up as the slowest', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i)
    expect(percentile(hundred, 50)).toBe(50)
    expect(percentile(hundred, 99)).toBe(99)
    expect(percentile(hundred, 100)).toBe(100)
    expect(percentile(hundred, 0)).toBe(1)
    expect(percentile([], 50)).toBeNaN()
    // 1 to 98, and two clients that gave up: the second is the p99.
    expect(latencySummary([...hundred.slice(2), Infinity, Infinity])).toEqual({ samples: 100, p50: 50, p99: Infinity, max: Infinity, failures: 2 })
  })

  it('takes each part\'s median CPU and prints the totals and their ratio', () => {
    const ref = (gen: number, node: number): RoundResult => round(100, 5, { 'load generator': gen, node })
    const svc = (node: number, tx: number): RoundResult => round(80, 6, { 'load generator': 50, node, 'tarantool tx': tx })
    const r = row('/get', {
      reference: [ref(50, 40), ref(52, 50), ref(48, 45)],
      service: [svc(60, 20), svc(55, 30), svc(65, 25)]
    })
    expect(r.cpu).toEqual({
      reference: { 'load generator': 50, node: 45 },
      service: { 'load generator': 50, node: 60, 'tarantool tx': 25 }
    })
    expect(totalOf(r.cpu!.service)).toBe(135)
    const lines = cpuTable([r])!.split('\n')
    expect(lines).toHaveLength(2)
    // reference 50 + 45 = 95; service 50 + 60 + 25 = 135; 95 / 135 = 0.70. Threads (and a Redis) not measured: '-'.
    expect(lines[1].trim().split(/\s+/)).toEqual(['/get', '50.0', '45.0', '95.0', '50.0', '60.0', '25.0', '-', '-', '-', '135.0', '0.70'])
  })
})

// A child that burns a fixed amount of CPU on its main thread on each line it reads, and writes its
// own CPU seconds (all its threads, to the microsecond) each time it goes idle: once started, then
// after each burn. Read while it is idle, /proc must agree with it to its 10 ms ticks, however
// busy the machine: the comparison has no window of wall-clock time in it.
const BURNER = `
  const seconds = () => { const { user, system } = process.cpuUsage(); return (user + system) / 1e6 }
  process.stdin.on('data', () => {
    let x = 0
    for (let i = 0; i < 2e8; i++) x += i % 7
    console.log(JSON.stringify({ seconds: seconds(), x }))
  })
  console.log(JSON.stringify({ seconds: seconds() }))
`

interface Burner {
  pid: number
  /** Its CPU seconds, as it reports them on going idle next. */
  idle: () => Promise<number>
  /** Starts one burn. */
  burn: () => void
  kill: () => void
}

function startBurner (): Burner {
  const child = spawn(process.execPath, ['-e', BURNER], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  return {
    pid: child.pid!,
    idle: async () => (JSON.parse((await lines.next()).value as string) as { seconds: number }).seconds,
    burn: () => { child.stdin.write('go\n') },
    kill: () => { child.kill() }
  }
}

// The error of a CPU time read from /proc: a thread's user and system times are each cut to a
// 10 ms tick at either read, so the busy thread's difference errs by under 20 ms; the rest leaves
// room for the other threads' bits of work (V8 compiling the loop).
const TICKS_ERROR = 0.05
// Far more than that error, on any machine: the burn is about 2e8 iterations.
const BURN_AT_LEAST = 0.1

describe.skipIf(!existsSync('/proc/self/stat'))('bench CPU meter', () => {
  it('measures the CPU of a process as the process itself counts it', async () => {
    const burner = startBurner()
    try {
      const before = await burner.idle()
      const meter = cpuMeter(burner.pid)
      burner.burn()
      const after = await burner.idle()
      const cpu = meter.stop(1000)!
      expect(after - before).toBeGreaterThan(BURN_AT_LEAST)
      // A process with no Tarantool child: Node and the load generator (this process) only.
      expect(Object.keys(cpu).sort()).toEqual(['load generator', 'node'])
      // Per "request": the child's seconds over 1000 requests, in µs.
      expect(cpu.node).toBeGreaterThan((after - before - TICKS_ERROR) * 1000)
      expect(cpu.node).toBeLessThan((after - before + TICKS_ERROR) * 1000)
      expect(cpu['load generator']).toBeGreaterThanOrEqual(0)
    } finally {
      burner.kill()
    }
  })

  it('measures nothing for a process that is not there', () => {
    expect(cpuMeter(undefined).stop(10)).toBeUndefined()
    expect(cpuMeter(2 ** 22 + 12345).stop(10)).toBeUndefined()
    expect(mainThreadOf(2 ** 22 + 12345)).toBeUndefined()
  })

  it('reads a main thread\'s CPU, and the times it lost the core while it could run', async () => {
    // Two burners for every core, burning at once: they cannot all run, so they take turns.
    const burners = Array.from({ length: 2 * availableParallelism() }, startBurner)
    try {
      const ownBefore = await Promise.all(burners.map(async (b) => await b.idle()))
      const before = burners.map((b) => mainThreadOf(b.pid)!)
      for (const b of burners) b.burn()
      const ownAfter = await Promise.all(burners.map(async (b) => await b.idle()))
      const after = burners.map((b) => mainThreadOf(b.pid)!)
      burners.forEach((_b, i) => {
        const own = ownAfter[i] - ownBefore[i]
        expect(own).toBeGreaterThan(BURN_AT_LEAST)
        // The burn is the main thread's; the others are idle meanwhile.
        expect(after[i].seconds - before[i].seconds).toBeGreaterThan(own - TICKS_ERROR)
        expect(after[i].seconds - before[i].seconds).toBeLessThan(own + TICKS_ERROR)
      })
      expect(after.some((t, i) => t.preemptions > before[i].preemptions)).toBe(true)
    } finally {
      for (const b of burners) b.kill()
    }
  })
})

describe('bench profile categories', () => {
  // A call tree as `node --cpu-prof` writes it; each leaf is sampled once, its time its id.
  const frame = (id: number, functionName: string, url: string, children: number[] = []): ProfileNode =>
    ({ id, callFrame: { functionName, url }, children })
  const nodes = [
    frame(1, '(root)', '', [2, 10, 20, 30, 31, 32, 40, 50]),
    // An HTTP response, written by Fastify.
    frame(2, 'writePayload', 'file:///app/node_modules/fastify/lib/reply.js', [3]),
    frame(3, 'end', 'node:_http_outgoing', [4]),
    frame(4, 'writev', ''),
    // Calls to Tarantool, written by our client through Node's socket code.
    frame(10, '#flush', 'file:///app/dist/store/tarantool-client.js', [11, 13]),
    frame(11, 'Socket._writeGeneric', 'node:net', [12]),
    frame(12, 'writeBuffer', ''),
    frame(13, 'encodeCall', 'file:///app/dist/store/iproto.js'),
    // A response decoded by msgpackr, a native frame under it.
    frame(20, 'unpack', 'file:///app/node_modules/msgpackr/unpack.js', [21]),
    frame(21, 'readUtf8', ''),
    frame(30, '(garbage collector)', ''),
    frame(31, '(idle)', ''),
    frame(32, '(program)', ''),
    // Node's internals called by nothing we know.
    frame(40, 'processTicksAndRejections', 'node:internal/process/task_queues'),
    // A request parsed with no caller of ours: HTTP.
    frame(50, 'parserOnHeadersComplete', 'node:_http_common')
  ]
  const leaves = [4, 12, 13, 21, 30, 31, 32, 40, 50]

  it('sums each sample under what its frame or nearest known caller was doing', () => {
    const time = timeByCategory({ nodes, samples: leaves, timeDeltas: leaves })
    expect(Object.fromEntries(time)).toEqual({
      'node http (parser, sockets)': 4 + 50,
      'writes to Tarantool\'s socket (and the wait for the core after them)': 12,
      'our client and store': 13,
      'MessagePack decoding (msgpackr; the driver, at login)': 21,
      'garbage collection': 30,
      idle: 31,
      'event loop (native code, no JS frame)': 32,
      'other node internals': 40
    })
  })
})

describe('bench latencies', () => {
  it('keeps each 2xx response\'s time to the microsecond', () => {
    const instance = new EventEmitter()
    const measured = measure(instance as unknown as Instance)
    for (let i = 0; i < 97; i++) instance.emit('response', {}, 200, 100, 2.345)
    for (let i = 0; i < 3; i++) instance.emit('response', {}, 204, 100, 4.5)
    // Counted in the rate, not in the latencies, as autocannon does.
    for (let i = 0; i < 50; i++) instance.emit('response', {}, 500, 100, 900)
    expect(measured.responses).toBe(150)
    expect(measured.latencies.totalCount).toBe(100)
    expect(measured.latencies.getValueAtPercentile(50) / 1000).toBeCloseTo(2.345, 2)
    expect(measured.latencies.getValueAtPercentile(99) / 1000).toBeCloseTo(4.5, 2)
  })

  it('counts nothing of the warm-up, and the rate over the measured part only', () => {
    // Timers and performance.now() under the test's control: the rate is computed from known times.
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] })
    try {
      const instance = new EventEmitter()
      const t0 = performance.now()
      let measuring: number | undefined
      const measured = measure(instance as unknown as Instance, 100, () => { measuring = performance.now() })
      for (let i = 0; i < 1000; i++) instance.emit('response', {}, 200, 100, 50)
      vi.advanceTimersByTime(99)
      expect(measuring).toBeUndefined()
      vi.advanceTimersByTime(1)
      expect(measuring).toBe(t0 + 100)
      for (let i = 0; i < 30; i++) instance.emit('response', {}, 200, 100, 1)
      vi.advanceTimersByTime(150)
      instance.emit('done', {})
      const result = summarize({ non2xx: 2, errors: 1, timeouts: 1 } as unknown as Awaited<Instance>, measured)
      expect(measured).toMatchObject({ responses: 30, startedAt: t0 + 100, endedAt: t0 + 250 })
      expect(measured.latencies.totalCount).toBe(30)
      // 30 responses over the 150 ms from the end of the warm-up to 'done'; non-2xx and errors
      // (timeouts among them) as autocannon counted them over the whole round.
      expect(result).toEqual({ rps: expect.closeTo(200, 6), p50: expect.closeTo(1, 2), p99: expect.closeTo(1, 2), non2xx: 2, errors: 2 })
    } finally {
      vi.useRealTimers()
    }
  })

  it('measures a round against a loopback server: its 2xx answers, not its errors', async () => {
    // Two answers in three are 500s, at once; every third a 200, after 35 ms. The latencies of
    // the 200s alone have a median of at least 30 ms (a 35 ms timer, less what the loop's clock
    // may lag): with the 500s among them it would be theirs.
    let n = 0
    const server = createServer((_req, res) => {
      n++
      if (n % 3 !== 0) res.writeHead(500).end('{}')
      else setTimeout(() => res.end('{}'), 35)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const { port } = server.address() as AddressInfo
      const result = await runRound(`http://127.0.0.1:${port}`, [{ method: 'GET', path: '/' }], { connections: 4, durationSeconds: 1 })
      // No pid given: no CPU measured.
      expect(result).toEqual({ rps: expect.any(Number), p50: expect.any(Number), p99: expect.any(Number), non2xx: expect.any(Number), errors: 0 })
      expect(result.non2xx).toBeGreaterThan(0)
      expect(result.non2xx).toBeLessThanOrEqual(n - Math.floor(n / 3))
      expect(result.rps).toBeGreaterThan(0)
      expect(result.p50).toBeGreaterThanOrEqual(30)
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })

  it('leaves a round\'s warm-up out of what it measures', async () => {
    // The server counts its answers; the harness says when the measured part starts.
    let answers = 0
    let answersInWarmup: number | undefined
    const server = createServer((_req, res) => {
      answers++
      res.end('{}')
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const { port } = server.address() as AddressInfo
      const opts = { connections: 4, durationSeconds: 0.3, warmupSeconds: 0.5 }
      const { instance, measured } = startRound(`http://127.0.0.1:${port}`, [{ method: 'GET', path: '/' }], opts, () => { answersInWarmup = answers })
      const raw = await instance
      expect(answersInWarmup).toBeGreaterThan(0)
      expect(measured.responses).toBeGreaterThan(0)
      expect(measured.latencies.totalCount).toBe(measured.responses)
      // What autocannon received and the harness left out: the warm-up's answers, all but those
      // still on their way when it ended (one a connection at most).
      const leftOut = raw['2xx'] - measured.responses
      expect(leftOut).toBeLessThanOrEqual(answersInWarmup!)
      expect(leftOut).toBeGreaterThanOrEqual(answersInWarmup! - opts.connections)
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })
})

describe('bench under wrk', () => {
  const output = [
    'Running 2s test @ http://127.0.0.1:8080',
    '  1 threads and 50 connections',
    '  1234 requests in 2.00s, 1.00MB read',
    'wrk-json {"requests":40000,"duration_us":2000000,"p50_us":1234.0,"p99_us":5678.5,' +
      '"errors":{"connect":0,"read":1,"write":0,"status":3,"timeout":2},"cpu_ticks":40,"next":-1}',
    'Requests/sec:  20000.00'
  ].join('\n')

  it('reads wrk.lua\'s line among wrk\'s output', () => {
    const out = parseWrkOutput(output)
    expect(out).toEqual({
      requests: 40000,
      durationUs: 2_000_000,
      p50Us: 1234,
      p99Us: 5678.5,
      errors: { connect: 0, read: 1, write: 0, status: 3, timeout: 2 },
      cpuTicks: 40,
      next: -1
    })
    expect(() => parseWrkOutput('Running 2s test @ http://127.0.0.1:8080\n')).toThrow(/no wrk-json line/)
  })

  it('turns it into a round: the rate over wrk\'s own duration, latencies in ms, status errors as non-2xx', () => {
    expect(wrkResult(parseWrkOutput(output))).toEqual({ rps: 20_000, p50: 1.234, p99: 5.6785, non2xx: 3, errors: 3 })
  })

  it('picks from lists of the very values the autocannon generators pick from', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-wrk-'))
    try {
      const files = new ListFiles(dir)
      const p = { from: 10, to: 13, total: 100 }
      const lines = (file: string): string[] => readFileSync(file, 'utf8').trim().split('\n')
      const get = wrkRequests('get', p, files)!.args()
      expect(get[0]).toBe('/get?token=%s')
      expect(lines(get[1])).toEqual([tokenOf(10), tokenOf(11), tokenOf(12)])
      const made = wrkRequests('new', p, files)!.args()
      expect(made[0]).toBe('/new?user_id=%s&ip=%s')
      const users = lines(made[1]).map(Number)
      expect(users).toHaveLength(userRange(100).count)
      for (let i = 0; i < 50; i++) expect(users).toContain(randomUser(100))
      expect(lines(made[2])).toEqual([ipOf(10, 100), ipOf(11, 100), ipOf(12, 100)])
      expect(wrkRequests('rotate', p, files)).toBeUndefined()
      expect(wrkCanRun('rotate')).toBe(false)
      // mixed: one `next` for all rounds, moved on by what each round reports.
      const mixed = wrkRequests('mixed', p, files)!
      expect(mixed.args().slice(0, 2)).toEqual(['mixed', '3'])
      mixed.onDone!({ ...parseWrkOutput(output), next: 1 })
      expect(mixed.args()[1]).toBe('1')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('bench goals', () => {
  const cpuRow = (ref: Record<string, number>, svc: Record<string, number>): Row =>
    row('/get', { reference: [round(100, 4, ref)], service: [round(50, 4, svc)] })

  it('gives CPU per request as ratios to the reference\'s Node, and what one Tarantool can serve', () => {
    const fig = cpuFigures(cpuRow({ node: 20, 'load generator': 5 }, { node: 30, 'tarantool tx': 8, 'tarantool iproto': 1, 'tarantool wal': 1, 'load generator': 5 }))!
    expect(fig).toEqual({ referenceNodeUs: 20, nodeUs: 30, tarantoolUs: 10, txUs: 8, node: 1.5, tarantool: 0.5 })
    expect(getsPerTarantool(fig.txUs)).toBe(125_000)
    expect(cpuFigures(row('/get', { reference: [round(1, 1)], service: [round(1, 1)] }))).toBeUndefined()
    expect(cpuFigures(undefined)).toBeUndefined()
  })

  it('takes service / peer round by round', () => {
    const service = row('/get', { reference: [round(100, 1), round(100, 1), round(100, 1)], service: [round(60, 1), round(50, 1), round(40, 1)] })
    const peer = row('/get', { reference: [round(100, 1), round(100, 1), round(100, 1)], service: [round(40, 1), round(50, 1), round(20, 1)] })
    // 1.5, 1, 2
    expect(rateRatio(service, peer)).toBe(1.5)
  })

  it('says met, not met or not measured for each goal, with the measured value', () => {
    const lines = verdicts({
      floor: { value: 0.8, note: 'floor /get @10000, wrk' },
      get: { value: 0.44 },
      p99Get: { value: 1.5 },
      getsPerTarantool: { value: 40_000 },
      memory: { value: 149.4 },
      getMillion: { why: 'this run has 50000 sessions' }
    })
    expect(lines).toHaveLength(GOALS.length)
    const of = (key: string): string => lines[GOALS.findIndex((g) => g.key === key)]
    expect(of('floor')).toMatch(/^met +floor .* >= 0\.75x: 0\.80x \(floor \/get @10000, wrk\)$/)
    expect(of('get')).toMatch(/^not met +\/get vs reference >= 0\.65x: 0\.44x$/)
    // At the bound is met.
    expect(of('p99Get')).toMatch(/^met .*<= 1\.50x: 1\.50x$/)
    expect(of('getsPerTarantool')).toMatch(/^not met .*>= 150,000\/s: 40,000\/s$/)
    expect(of('memory')).toMatch(/^met .*<= 150\.0 B\/session: 149\.4 B\/session$/)
    expect(of('getMillion')).toMatch(/^not measured .*: this run has 50000 sessions$/)
    expect(of('sweepP99')).toMatch(/^not measured .*<= 2\.00x$/)
    expect(meets({ at: 'most', target: 2 }, 2.01)).toBe(false)
  })
})
