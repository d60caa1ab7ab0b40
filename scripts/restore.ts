// npm run restore -- --from DIR: puts a backup (from npm run backup) into the data directory of a
// stopped instance, then starts Tarantool on it once to check that it holds as many sessions as the
// backup's manifest says. The data files it replaces are kept aside in the data directory.
import { copyFileSync, mkdirSync, readdirSync, renameSync } from 'node:fs'
import { join, resolve } from 'node:path'
import pino from 'pino'
import { connectConsole } from '../lib/admin-console.js'
import { loadConfig } from '../src/config.js'
import { startEmbeddedTarantool, tarantoolRunningOn } from '../src/embedded/tarantool.js'
import { readManifest, scriptOptions, sha256 } from '../lib/backup-manifest.js'

const USAGE = `usage: npm run restore -- --from DIR [--data-dir DIR] [--console SOCKET]
  --from      a directory written by npm run backup
  --data-dir  the data directory of the stopped instance to restore into (default: DATA_DIR, ./data)
  --console   its admin console socket, to make sure it is not running (default: <data dir>/tarantool.control)`

// The files that make up an instance's data.
const DATA_FILE = /\.(snap|xlog|vylog)$/

/** What shows that a Tarantool runs on this data directory, if one does. */
async function runningInstance (dataDir: string, consoleSocket: string): Promise<string | undefined> {
  const pid = tarantoolRunningOn(dataDir)
  if (pid !== undefined) return `pid ${pid}`
  try {
    const admin = await connectConsole(consoleSocket, { timeoutMs: 2000 })
    admin.close()
    return `its console ${consoleSocket} answers`
  } catch {
    return undefined
  }
}

// Where the data files that were in the data directory went, once moved.
let movedAside: string | undefined

async function main (): Promise<void> {
  const { dir, dataDir: givenDataDir, consoleSocket } = scriptOptions('from', USAGE)
  const from = resolve(dir)
  const dataDir = resolve(givenDataDir)
  const manifest = readManifest(from)
  for (const file of manifest.files) {
    if (sha256(join(from, file.name)) !== file.sha256) throw new Error(`${file.name} in ${from} is not the file that was backed up`)
  }
  const running = await runningInstance(dataDir, consoleSocket)
  if (running !== undefined) throw new Error(`Tarantool is running on ${dataDir} (${running}): stop the service first`)

  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const replaced = readdirSync(dataDir).filter((name) => DATA_FILE.test(name))
  if (replaced.length > 0) {
    const aside = join(dataDir, `replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`)
    mkdirSync(aside)
    for (const name of replaced) renameSync(join(dataDir, name), join(aside, name))
    movedAside = aside
    console.log(`moved the data files there were (${replaced.join(', ')}) to ${aside}`)
  }
  for (const file of manifest.files) {
    copyFileSync(join(from, file.name), join(dataDir, file.name))
    console.log(`restored ${file.name} (${file.bytes} bytes)`)
  }

  const config = loadConfig(process.env, { dotenv: true })
  const embedded = await startEmbeddedTarantool({ bin: config.TARANTOOL_BIN, searchPath: config.PATH, dataDir, log: pino({ level: 'error' }) })
  try {
    if (embedded.consoleSocket === undefined) throw new Error(`no admin console: the path of ${dataDir} is too long for a unix socket`)
    const admin = await connectConsole(embedded.consoleSocket)
    // The expiry fiber may already have removed sessions whose time ran out since the backup:
    // they count, as the sweep counted them.
    const [sessions, expired] = await admin.eval<[number, number]>(
      'return {box.space.sessions:len(), require("sessions.expiry").counters.expired}').finally(() => admin.close())
    if (sessions + expired !== manifest.sessions) {
      throw new Error(`the restored instance holds ${sessions} sessions (and expired ${expired}), the backup ${manifest.sessions}`)
    }
    if (expired > 0) console.log(`${expired} sessions of the backup had expired since and were swept at start`)
    console.log(`restored ${sessions} sessions (backup of ${manifest.createdAt}) into ${dataDir}; checked by starting Tarantool ${manifest.tarantoolVersion} on it`)
  } finally {
    await embedded.stop()
  }
}

main().catch((err: Error) => {
  console.error(`restore failed: ${err.message}`)
  if (movedAside !== undefined) console.error(`the data files that were there before are in ${movedAside}: move them back to undo`)
  process.exit(1)
})
