// The admin console of the embedded instance: what operator tools (backup, bench) run Lua through.
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectConsole, type AdminConsole } from '../../lib/admin-console.js'
import { CONSOLE_SOCKET_NAME, startEmbeddedTarantool, type EmbeddedTarantool } from '../../src/embedded/tarantool.js'
import { TARANTOOL_BIN } from '../support/tarantool.js'
import { missing } from '../support/programs.js'

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('the embedded instance\'s admin console', () => {
  let root: string
  let dataDir: string
  let embedded: EmbeddedTarantool
  let admin: AdminConsole
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'sessions-console-'))
    dataDir = join(root, 'data')
    embedded = await startEmbeddedTarantool({ bin: TARANTOOL_BIN!, dataDir, log: pino({ level: 'silent' }) })
    admin = await connectConsole(embedded.consoleSocket!)
  })
  afterAll(async () => {
    admin?.close()
    await embedded?.stop()
    rmSync(root, { recursive: true, force: true })
  })

  it('is a unix socket in a data directory only its owner can enter', () => {
    expect(embedded.consoleSocket).toBe(join(dataDir, CONSOLE_SOCKET_NAME))
    expect(statSync(embedded.consoleSocket!).isSocket()).toBe(true)
    expect(statSync(embedded.consoleSocket!).mode & 0o777).toBe(0o600)
    expect(statSync(dataDir).mode & 0o777).toBe(0o700)
  })

  it('runs a chunk as admin and returns its value as JSON', async () => {
    expect(await admin.eval('return box.space.sessions:len()')).toBe(0)
    expect(await admin.eval('local t = {}\nfor i = 1, 3 do t[i] = i * i end\nreturn {list = t, s = "it\'s \\"q\\" ünï"}'))
      .toEqual({ list: [1, 4, 9], s: 'it\'s "q" ünï' })
    expect(await admin.eval('box.session.su("admin")')).toBeNull()
    expect(await admin.eval('return box.session.effective_user()')).toBe('admin')
  })

  it('rejects with the Lua error, and stays usable', async () => {
    await expect(admin.eval('error("boom", 0)')).rejects.toThrow(/^boom$/)
    await expect(admin.eval('this is not lua')).rejects.toThrow(/console-eval/)
    await expect(admin.eval('box.space.nope:len()')).rejects.toThrow(/nope/)
    const answers = await Promise.all([1, 2, 3].map((n) => admin.eval(`return ${n}`)))
    expect(answers).toEqual([1, 2, 3])
  })

  it('refuses a socket that is not there', async () => {
    await expect(connectConsole(join(root, 'missing.sock'))).rejects.toThrow(/ENOENT/)
  })
})
