// The processes a bench run starts (the service, the reference server), each on a free loopback
// port, and their cleanup: every process started here is stopped on exit, on failure and on Ctrl-C.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, waitListening } from '../src/embedded-tarantool.js'

const ROOT = join(import.meta.dirname, '..')
const started = new Set<ChildProcess>()

/** Compiles the service to dist/ (npm run build), to run it as `npm start` does. */
export function buildService (): void {
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' })
  if (tsc.status !== 0) throw new Error('the build failed')
}
const STOP_TIMEOUT_MS = 15_000

export interface Running {
  name: string
  port: number
  url: string
  proc: ChildProcess
  stop: () => Promise<void>
}

/** Starts `node args...` with `env` on a free port (given as PORT), logging to `logDir/name.log`. */
export async function startNode (name: string, args: string[], env: Record<string, string>, logDir: string): Promise<Running> {
  const port = await freePort()
  const log = openSync(join(logDir, `${name}.log`), 'a')
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', log, log]
  })
  closeSync(log)
  started.add(proc)
  const exited = new Promise<void>((resolve) => proc.once('exit', () => { started.delete(proc); resolve() }))
  const gone = (): boolean => proc.exitCode !== null || proc.signalCode !== null
  if (!(await waitListening(port, gone, 120_000))) {
    proc.kill('SIGKILL')
    throw new Error(`${name} did not start listening; see ${join(logDir, `${name}.log`)}`)
  }
  const stop = async (): Promise<void> => {
    if (gone()) return
    proc.kill('SIGTERM')
    const killer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(killer)
  }
  return { name, port, url: `http://127.0.0.1:${port}`, proc, stop }
}

/** Settings of the service a run may change; unset ones keep the service's defaults. */
export interface ServiceSettings {
  logLevel?: string
  accessLog?: string
  /** TOKEN_STORAGE: 'plain' (the service's default) or 'hashed'. */
  tokenStorage?: 'plain' | 'hashed'
}

/**
 * Starts the service as `npm start` runs it (built, with its embedded Tarantool's data in
 * `dir/data`), logging to `dir/service.log`; `nodeArgs` go to node before the script.
 */
export async function startService (dir: string, opts: ServiceSettings & { nodeArgs?: string[] } = {}): Promise<Running> {
  return await startNode('service', [...(opts.nodeArgs ?? []), join(ROOT, 'dist/server.js')], {
    DATA_DIR: join(dir, 'data'),
    ...(opts.logLevel === undefined ? {} : { LOG_LEVEL: opts.logLevel }),
    ...(opts.accessLog === undefined ? {} : { ACCESS_LOG: opts.accessLog }),
    ...(opts.tokenStorage === undefined ? {} : { TOKEN_STORAGE: opts.tokenStorage })
  }, dir)
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
  started.add(proc)
  // 'close': after its output has all been read.
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => { started.delete(proc); resolve(code) }))
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
  return {
    stop: async () => {
      if (proc.exitCode !== null) throw failed()
      proc.kill('SIGTERM')
      const killer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS)
      const code = await exited
      clearTimeout(killer)
      const last = lines.at(-1)
      if (code !== 0 || last === undefined || last === 'ready') throw failed()
      return JSON.parse(last) as WalkerReport
    }
  }
}

/** Kills whatever is still running: the last resort on exit (SIGTERM first for the service). */
function killAll (signal: NodeJS.Signals): void {
  for (const proc of started) proc.kill(signal)
}

/** Makes sure that no process of this run outlives it, however it ends. */
export function cleanupOnExit (cleanup: () => Promise<void>): void {
  let cleaning = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (cleaning) return
    cleaning = true
    console.error(`\n${signal}: stopping the processes of this run`)
    cleanup().catch(() => {}).finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  // The synchronous last resort: the service's own Tarantool watches its parent and exits too.
  process.once('exit', () => killAll('SIGKILL'))
}
