// The bench's own processes beside the service (lib/processes.ts): the reference, the floor, a
// replica set, redis-server and the Redis script, the walker; each on a free loopback port, and
// stopped on exit, on failure and on Ctrl-C as the service is.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { freePort, killedOnExit, startNode, stopper, type Running } from '../lib/processes.js'
import { CONSOLE_SOCKET_NAME, waitListening } from '../src/embedded/tarantool.js'

const ROOT = join(import.meta.dirname, '..')

/** A replica set that `npm run cluster` runs: the service's TARANTOOL_URI and each member's console. */
export interface RunningCluster {
  uri: string
  consoles: string[]
  stop: () => Promise<void>
}

/** Three free loopback ports in a row, for the members of a set. */
async function freePorts (): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await freePort()
    if (base > 65_533) continue
    if (await Promise.all([base + 1, base + 2].map(async (port) => await portFree(port))).then((free) => free.every(Boolean))) return base
  }
  throw new Error('found no three free loopback ports in a row')
}

function portFree (port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createServer()
    server.once('error', () => resolvePort(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)))
  })
}

/**
 * Starts a local replica set of three members as users do (`npm run cluster`, data under
 * `dir/cluster`, the members' settings in `env`), logging to `dir/cluster.log`; resolves once the
 * set is ready, with the TARANTOOL_URI it printed.
 */
export async function startCluster (dir: string, env: Record<string, string> = {}): Promise<RunningCluster> {
  const basePort = await freePorts()
  const log = openSync(join(dir, 'cluster.log'), 'a')
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/cluster.ts'), '--base-port', String(basePort)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, DATA_DIR: dir },
    stdio: ['ignore', 'pipe', log]
  })
  closeSync(log)
  killedOnExit(proc)
  const exited = new Promise<void>((resolveExit) => proc.once('close', () => resolveExit()))
  let output = ''
  proc.stdout!.setEncoding('utf8')
  proc.stdout!.on('data', (chunk: string) => { output += chunk })
  const uri = await new Promise<string>((resolveUri, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`the replica set was not ready within 120 s; see ${join(dir, 'cluster.log')}`)) }, 120_000)
    proc.stdout!.on('data', () => {
      const found = /TARANTOOL_URI=(\S+)/.exec(output)?.[1]
      if (found !== undefined) { clearTimeout(timer); resolveUri(found) }
    })
    void exited.then(() => { clearTimeout(timer); reject(new Error(`npm run cluster exited: ${output.slice(-300)}; see ${join(dir, 'cluster.log')}`)) })
  })
  const consoles = [1, 2, 3].map((i) => join(dir, 'cluster', `m${i}`, CONSOLE_SOCKET_NAME))
  const gone = (): boolean => proc.exitCode !== null || proc.signalCode !== null
  return { uri, consoles, stop: stopper(proc, gone, exited) }
}

/** The reference's answers (URL path -> JSON body) as a file in `dir`, for the processes that answer them. */
function bodiesFile (dir: string, bodies: Record<string, unknown>): string {
  const file = join(dir, 'reference-bodies.json')
  writeFileSync(file, JSON.stringify(bodies))
  return file
}

/** Starts the bare-Fastify reference answering `bodies` (URL path -> JSON body), logging to `dir/reference.log`. */
export async function startReference (dir: string, bodies: Record<string, unknown>, nodeArgs: string[] = []): Promise<Running> {
  return await startNode('reference', [...nodeArgs, '--import', 'tsx', join(ROOT, 'bench/reference.ts')], { REFERENCE_BODIES: bodiesFile(dir, bodies) }, dir)
}

/**
 * Starts the floor (floor.ts: bare Fastify, one no-op Tarantool call per /get) answering the
 * reference's /get body, its Tarantool's files in `dir/floor`, logging to `dir/floor.log`.
 */
export async function startFloor (dir: string, bodies: Record<string, unknown>): Promise<Running> {
  return await startNode('floor', ['--import', 'tsx', join(ROOT, 'bench/floor.ts')], { REFERENCE_BODIES: bodiesFile(dir, bodies), FLOOR_DIR: join(dir, 'floor') }, dir)
}

/** Debian's redis-server, started by the bench: its port and process, and how to stop it. */
export interface RunningRedis {
  port: number
  proc: ChildProcess
  stop: () => Promise<void>
}

/** Whether a redis-server is in PATH (the Redis script's rows are skipped without one). */
export function redisServerFound (): boolean {
  return spawnSync('redis-server', ['--version']).error === undefined
}

/**
 * Starts redis-server on a free loopback port, its files in `dir/redis` (an append-only file,
 * written but not fsynced, no snapshots: as a session store is commonly run), logging to
 * `dir/redis.log`.
 */
export async function startRedis (dir: string): Promise<RunningRedis> {
  const port = await freePort()
  const data = join(dir, 'redis')
  mkdirSync(data, { recursive: true })
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', data, '--appendonly', 'yes', '--appendfsync', 'no',
    '--save', '', '--logfile', join(dir, 'redis.log'), '--daemonize', 'no'], { stdio: 'ignore' })
  killedOnExit(proc)
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  const gone = (): boolean => proc.exitCode !== null || proc.signalCode !== null
  if (!(await waitListening(port, gone, 30_000))) {
    proc.kill('SIGKILL')
    throw new Error(`redis-server did not start listening; see ${join(dir, 'redis.log')}`)
  }
  return { port, proc, stop: stopper(proc, gone, exited) }
}

/**
 * Starts the Fastify + Redis script (redis-peer.ts) on the Redis at `redisPort`, logging to
 * `dir/redis-peer.log`; `newBy`: how its /new stores a session (one Lua script, or ioredis's pipeline).
 */
export async function startRedisPeer (dir: string, redisPort: number, newBy: 'script' | 'pipeline' = 'script'): Promise<Running> {
  return await startNode('redis-peer', ['--import', 'tsx', join(ROOT, 'bench/redis-peer.ts')], { REDIS_PORT: String(redisPort), REDIS_NEW: newBy }, dir)
}

/** The walker (walk.ts) while it walks: `stop()` ends it and resolves with what it listed meanwhile. */
export interface Walker {
  stop: () => Promise<WalkerReport>
}

/** What the walker listed after its first page, in how many seconds, and its own CPU seconds meanwhile. */
export interface WalkerReport {
  sessions: number
  seconds: number
  cpuSeconds: number
}

/**
 * Starts a client that walks `path` at `url` in a loop (walk.ts, a process of its own, so that
 * its parsing of the pages holds up neither the load generator's event loop nor its timings),
 * logging its errors to `dir/walker.log`; resolves once it has its first page.
 */
export async function startWalker (url: string, path: string, dir: string): Promise<Walker> {
  const log = openSync(join(dir, 'walker.log'), 'a')
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/walk.ts'), url, path], { cwd: ROOT, stdio: ['ignore', 'pipe', log] })
  closeSync(log)
  killedOnExit(proc)
  // 'close': after its output has all been read.
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)))
  const lines: string[] = []
  let pending = ''
  let onLine: (() => void) | undefined
  proc.stdout!.setEncoding('utf8')
  proc.stdout!.on('data', (chunk: string) => {
    pending += chunk
    const parts = pending.split('\n')
    pending = parts.pop()!
    lines.push(...parts)
    onLine?.()
  })
  const failed = (): Error => new Error(`the walker stopped; see ${join(dir, 'walker.log')}`)
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('the walker did not get its first page within 60 s')) }, 60_000)
    onLine = () => { if (lines.includes('ready')) { clearTimeout(timer); resolve() } }
    exited.then(() => { clearTimeout(timer); reject(failed()) }, reject)
  })
  onLine = undefined
  const stop = stopper(proc, () => proc.exitCode !== null || proc.signalCode !== null, exited)
  return {
    stop: async () => {
      if (proc.exitCode !== null) throw failed()
      await stop()
      const code = await exited
      const last = lines.at(-1)
      if (code !== 0 || last === undefined || last === 'ready') throw failed()
      return JSON.parse(last) as WalkerReport
    }
  }
}
