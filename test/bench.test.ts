// The bench's arithmetic and its CPU meter (the bench itself runs apart: npm run bench).
import { spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Instance } from 'autocannon'
import { describe, expect, it } from 'vitest'
import { cpuMeter, mainThreadOf, totalOf } from '../bench/cpu.js'
import { measure, round as runRound, summarize, type RoundResult } from '../bench/load.js'
import { timeByCategory, type ProfileNode } from '../bench/profile-categories.js'
import { cpuTable, median, row } from '../bench/report.js'

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
    // reference 50 + 45 = 95; service 50 + 60 + 25 = 135; 95 / 135 = 0.70. Threads not measured: '-'.
    expect(lines[1].trim().split(/\s+/)).toEqual(['/get', '50.0', '45.0', '95.0', '50.0', '60.0', '25.0', '-', '-', '135.0', '0.70'])
  })
})

describe.skipIf(!existsSync('/proc/self/stat'))('bench CPU meter', () => {
  it('measures the CPU of a process as the process itself counts it', async () => {
    // Burns a fixed amount of work, reports its own CPU time (all of its life), then waits.
    const child = spawn(process.execPath, ['-e', `
      let x = 0
      for (let i = 0; i < 3e8; i++) x += i % 7
      const { user, system } = process.cpuUsage()
      console.log(JSON.stringify({ seconds: (user + system) / 1e6, x }))
      setTimeout(() => {}, 10_000)
    `], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      const meter = cpuMeter(child.pid)
      const [line] = await once(child.stdout!, 'data') as [Buffer]
      const { seconds } = JSON.parse(line.toString()) as { seconds: number }
      const cpu = meter.stop(1000)!
      // Per "request": the child's seconds over 1000 requests, in µs; /proc counts in 10 ms ticks,
      // and the meter started a moment after the child did.
      expect(cpu.node).toBeGreaterThan((seconds - 0.05) * 1000)
      expect(cpu.node).toBeLessThan((seconds + 0.05) * 1000)
      expect(cpu['load generator']).toBeGreaterThanOrEqual(0)
    } finally {
      child.kill()
    }
  })

  it('measures nothing for a process that is not there', () => {
    expect(cpuMeter(undefined).stop(10)).toBeUndefined()
    expect(cpuMeter(2 ** 22 + 12345).stop(10)).toBeUndefined()
    expect(mainThreadOf(2 ** 22 + 12345)).toBeUndefined()
  })

  it('reads a main thread\'s CPU, and the times it lost the core while it could run', async () => {
    // Two busy children for every core: they take turns.
    const script = 'const end = Date.now() + 1500; while (Date.now() < end);'
    const children = Array.from({ length: 2 * availableParallelism() }, () => spawn(process.execPath, ['-e', script]))
    try {
      await Promise.all(children.map((c) => once(c, 'spawn')))
      const before = children.map((c) => mainThreadOf(c.pid!)!)
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const after = children.map((c) => mainThreadOf(c.pid!)!)
      // Together at most the cores for the second (ticks of 10 ms); well above nothing on a slowed machine.
      const seconds = after.reduce((n, t, i) => n + t.seconds - before[i].seconds, 0)
      expect(seconds).toBeGreaterThan(0.2 * availableParallelism())
      expect(seconds).toBeLessThan(1.2 * availableParallelism())
      expect(after.some((t, i) => t.preemptions > before[i].preemptions)).toBe(true)
    } finally {
      for (const c of children) c.kill()
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

  it('counts nothing of the warm-up, and the rate over the measured part only', async () => {
    const instance = new EventEmitter()
    let measuring = 0
    const measured = measure(instance as unknown as Instance, 100, () => { measuring = performance.now() })
    for (let i = 0; i < 1000; i++) instance.emit('response', {}, 200, 100, 50)
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(measuring).toBeGreaterThan(0)
    for (let i = 0; i < 30; i++) instance.emit('response', {}, 200, 100, 1)
    await new Promise((resolve) => setTimeout(resolve, 100))
    instance.emit('done', {})
    const result = summarize({ non2xx: 0, errors: 0, timeouts: 0 } as unknown as Awaited<Instance>, measured)
    expect(measured.responses).toBe(30)
    expect(result.p99).toBeCloseTo(1, 2)
    // 30 responses over the 0.1 to 0.2 s from the end of the warm-up to 'done'.
    expect(result.rps).toBeGreaterThan(100)
    expect(result.rps).toBeLessThan(300)
  })

  it('measures a round against a loopback server: its slow 2xx answers, not its errors', async () => {
    // Every 10th answer takes 30 ms; every 7th is a 500 that takes 200 ms.
    let n = 0
    const server = createServer((_req, res) => {
      n++
      if (n % 7 === 0) setTimeout(() => res.writeHead(500).end('{}'), 200)
      else if (n % 10 === 0) setTimeout(() => res.end('{}'), 30)
      else res.end('{}')
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const { port } = server.address() as AddressInfo
      const result = await runRound(`http://127.0.0.1:${port}`, [{ method: 'GET', path: '/' }], { connections: 4, durationSeconds: 1 })
      expect(result.non2xx).toBeGreaterThan(0)
      expect(result.rps).toBeGreaterThan(0)
      expect(result.p50).toBeLessThan(30)
      expect(result.p99).toBeGreaterThanOrEqual(30)
      expect(result.p99).toBeLessThan(200)
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })

  it('leaves a round\'s warm-up out of its latencies', async () => {
    // Each answer takes 100 ms for the first 0.4 s, then none.
    const slowUntil = Date.now() + 400
    const server = createServer((_req, res) => {
      if (Date.now() < slowUntil) setTimeout(() => res.end('{}'), 100)
      else res.end('{}')
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const { port } = server.address() as AddressInfo
      const url = `http://127.0.0.1:${port}`
      const result = await runRound(url, [{ method: 'GET', path: '/' }], { connections: 4, durationSeconds: 0.5, warmupSeconds: 0.6 })
      expect(result.rps).toBeGreaterThan(0)
      expect(result.p99).toBeLessThan(100)
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })
})
