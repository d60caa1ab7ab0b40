import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connectConsole } from '../lib/admin-console.js'
import { parseTarantoolUri } from '../src/config.js'
import { findExecutable, startEmbeddedTarantool, type EmbeddedTarantool } from '../src/embedded/tarantool.js'
import { SessionsStore } from '../src/store/sessions-store.js'
import { TarantoolClient } from '../src/store/tarantool-client.js'
import { isRunning, TARANTOOL_BIN } from './support/tarantool.js'
import { missing } from './support/programs.js'

const log = pino({ level: 'silent' })
const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function tempDir (): string {
  const dir = mkdtempSync(join(tmpdir(), 'sessions-embedded-'))
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function start (dataDir: string, logger = log): Promise<{ embedded: EmbeddedTarantool, store: SessionsStore, client: TarantoolClient }> {
  const embedded = await startEmbeddedTarantool({ bin: TARANTOOL_BIN!, dataDir, log: logger })
  cleanup.push(embedded.stop)
  const client = new TarantoolClient({ ...parseTarantoolUri(embedded.uri), timeoutMs: 1000 })
  cleanup.push(() => client.close())
  await client.waitConnected(5000)
  return { embedded, store: new SessionsStore(client, { extraMaxBytes: 8192, tokenStorage: 'plain', maxLifetimeSeconds: 0, maxSessionsPerUser: 0, limitPolicy: 'evict_oldest' }), client }
}

describe('findExecutable', () => {
  it('finds a binary by name in a search path, or by path', () => {
    expect(findExecutable('sh', '/nonexistent:/bin')).toBe('/bin/sh')
    expect(findExecutable('/bin/sh')).toBe('/bin/sh')
    expect(findExecutable('no-such-binary-here', '/bin:/usr/bin')).toBeUndefined()
  })
})

describe('startEmbeddedTarantool', () => {
  it('says how to get Tarantool when there is none', async () => {
    await expect(startEmbeddedTarantool({ bin: 'no-such-tarantool', dataDir: tempDir(), log, searchPath: '/bin' }))
      .rejects.toThrow(/apt-get install tarantool.*TARANTOOL_URI/s)
  })

  describe.skipIf(missing('tarantool', TARANTOOL_BIN))('with a tarantool binary', () => {
    it('runs init.lua on a unix socket with its data in DATA_DIR, and keeps it across restarts', async () => {
      const dataDir = tempDir()
      const first = await start(dataDir)
      expect(parseTarantoolUri(first.embedded.uri).path).toBe(join(dataDir, 'tarantool.sock'))
      const session = await first.store.create(crypto.randomUUID(), 42, '127.0.0.1', { a: 1 })
      const pid = first.embedded.process!.pid!
      first.client.close()
      await first.embedded.stop()
      expect(isRunning(pid)).toBe(false)

      const second = await start(dataDir)
      expect(await second.store.touch(session.token, undefined, undefined)).toMatchObject({ user_id: 42, extra: { a: 1 } })
    })

    it('gives Tarantool the memory asked for (TARANTOOL_MEMTX_MEMORY), else init.lua\'s 256 MB', async () => {
      const quota = async (embedded: EmbeddedTarantool): Promise<number> => {
        const admin = await connectConsole(embedded.consoleSocket!)
        try {
          return await admin.eval<number>('return box.slab.info().quota_size')
        } finally {
          admin.close()
        }
      }
      const sized = await startEmbeddedTarantool({ bin: TARANTOOL_BIN!, dataDir: tempDir(), log, memtxMemory: 64 * 1024 * 1024 })
      cleanup.push(sized.stop)
      expect(await quota(sized)).toBe(64 * 1024 * 1024)
      const { embedded } = await start(tempDir())
      expect(await quota(embedded)).toBe(256 * 1024 * 1024)
    })

    it('closes DATA_DIR and every file Tarantool writes in it to other users, also when it was open before', async () => {
      const dataDir = join(tempDir(), 'data')
      mkdirSync(dataDir, { mode: 0o755 })
      chmodSync(dataDir, 0o755)
      // A file from before (a restored snapshot, say) left readable by all.
      writeFileSync(join(dataDir, 'note.txt'), 'x', { mode: 0o644 })
      chmodSync(join(dataDir, 'note.txt'), 0o644)
      const { embedded, store } = await start(dataDir)
      await store.create(crypto.randomUUID(), 7, '127.0.0.1', undefined)
      const admin = await connectConsole(embedded.consoleSocket!)
      // Listening on its unix socket alone, no TCP port.
      expect(await admin.eval('return box.cfg.listen')).toBe(`unix/:${join(dataDir, 'tarantool.sock')}`)
      await admin.eval('box.snapshot()').finally(() => admin.close())

      expect(statSync(dataDir).mode & 0o777).toBe(0o700)
      const files = readdirSync(dataDir)
      expect(files).toEqual(expect.arrayContaining(['note.txt', 'tarantool.pid', 'tarantool.sock', 'tarantool.control']))
      expect(files.filter((name) => name.endsWith('.snap')).length).toBeGreaterThanOrEqual(2)
      expect(files.filter((name) => name.endsWith('.xlog')).length).toBeGreaterThanOrEqual(1)
      const open = files.map((name) => [name, (statSync(join(dataDir, name)).mode & 0o077).toString(8)]).filter(([, mode]) => mode !== '0')
      expect(open).toEqual([])
    })

    it('listens in a private directory of its own when DATA_DIR is too long for a unix socket, and removes it at stop', async () => {
      const lines: string[] = []
      const logger = pino({ level: 'warn' }, { write: (line: string) => { lines.push(line) } })
      // Longer than a unix socket path may be (107 bytes).
      const dataDir = join(tempDir(), 'd'.repeat(100))
      const { embedded, store } = await start(dataDir, logger)
      const socket = parseTarantoolUri(embedded.uri).path!
      expect(socket.startsWith(join(tmpdir(), 'sessions-'))).toBe(true)
      expect(statSync(dirname(socket)).mode & 0o777).toBe(0o700)
      expect(lines.join('')).toContain('data directory path too long for a unix socket: Tarantool listens in a private directory')
      expect((await store.stats()).sessions).toBe(0)
      const listening = await new Promise<boolean>((resolve) => {
        const probe = connect(socket)
        probe.once('connect', () => { probe.destroy(); resolve(true) })
        probe.once('error', () => resolve(false))
      })
      expect(listening).toBe(true)
      await embedded.stop()
      expect(existsSync(dirname(socket))).toBe(false)
    })

    it('refuses a second instance on the same data directory', async () => {
      const dataDir = tempDir()
      await start(dataDir)
      // It waits a while for the other to exit, as one left by a killed service soon does.
      await expect(startEmbeddedTarantool({ bin: TARANTOOL_BIN!, dataDir, log })).rejects.toThrow(/Another Tarantool \(pid \d+\) runs on the data directory/)
    })

    it('waits for a previous instance on the data directory that is on its way out', async () => {
      // As after `kill -9` of the service: its Tarantool notices within a second and exits.
      const dataDir = tempDir()
      const first = await start(dataDir)
      const firstPid = first.embedded.process!.pid!
      first.client.close()
      setTimeout(() => { void first.embedded.stop() }, 1000)
      const second = await startEmbeddedTarantool({ bin: TARANTOOL_BIN!, dataDir, log })
      cleanup.push(second.stop)
      expect(isRunning(firstPid)).toBe(false)
      expect(second.process?.pid).toBeDefined()
    })

    it('restarts Tarantool when it dies, and the client reconnects', async () => {
      const { embedded, store } = await start(tempDir())
      const pid = embedded.process!.pid!
      process.kill(pid, 'SIGKILL')
      await vi.waitFor(() => {
        expect(embedded.process?.pid).toBeDefined()
        expect(embedded.process?.pid).not.toBe(pid)
      }, { timeout: 5000 })
      await vi.waitFor(async () => { expect((await store.stats()).sessions).toBe(0) }, { timeout: 5000, interval: 100 })
    })
  })
})
