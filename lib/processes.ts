// The processes that scripts, the bench and the tests start beside the service, each on a free
// loopback port, and their cleanup: every process started through here is stopped on exit, on
// failure and on Ctrl-C.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { waitListening } from '../src/embedded/tarantool.js'

const ROOT = join(import.meta.dirname, '..')
const started = new Set<ChildProcess>()
const STOP_TIMEOUT_MS = 15_000

/** A free TCP port on the loopback interface. */
export function freePort (): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolvePort(port))
    })
  })
}

/** Has `proc` killed if this process exits while it runs (cleanupOnExit's last resort). */
export function killedOnExit (proc: ChildProcess): void {
  started.add(proc)
  proc.once('exit', () => started.delete(proc))
}

/** Stops a process: SIGTERM, then SIGKILL past STOP_TIMEOUT_MS; resolves once it exited. */
export function stopper (proc: ChildProcess, gone: () => boolean, exited: Promise<unknown>): () => Promise<void> {
  return async () => {
    if (gone()) return
    proc.kill('SIGTERM')
    const killer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(killer)
  }
}

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
  killedOnExit(proc)
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  const gone = (): boolean => proc.exitCode !== null || proc.signalCode !== null
  if (!(await waitListening(port, gone, 120_000))) {
    proc.kill('SIGKILL')
    throw new Error(`${name} did not start listening; see ${join(logDir, `${name}.log`)}`)
  }
  return { name, port, url: `http://127.0.0.1:${port}`, proc, stop: stopper(proc, gone, exited) }
}

/** Compiles the service to dist/ (npm run build), to run it as `npm start` does. */
export function buildService (): void {
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' })
  if (tsc.status !== 0) throw new Error('the build failed')
}

/** Settings of the service a run may change; unset ones keep the service's defaults. */
export interface ServiceSettings {
  logLevel?: string
  accessLog?: string
  /** TOKEN_STORAGE: 'plain' (the service's default) or 'hashed'. */
  tokenStorage?: 'plain' | 'hashed'
  /** TARANTOOL_URI: a Tarantool of its own (a replica set) instead of the embedded one. */
  tarantoolUri?: string
  /** TARANTOOL_MEMTX_MEMORY of the embedded Tarantool, in bytes. */
  memtxMemory?: number
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
    ...(opts.tokenStorage === undefined ? {} : { TOKEN_STORAGE: opts.tokenStorage }),
    ...(opts.tarantoolUri === undefined ? {} : { TARANTOOL_URI: opts.tarantoolUri }),
    ...(opts.memtxMemory === undefined ? {} : { TARANTOOL_MEMTX_MEMORY: String(opts.memtxMemory) })
  }, dir)
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
