// npm run backup -- --out DIR: a hot backup of the running instance, taken through its admin
// console while the service keeps serving. It writes a snapshot now (box.snapshot), holds it
// against garbage collection (box.backup.start), copies the files that list names, releases them
// (box.backup.stop) and writes a manifest with the number of sessions in it. The backup holds every
// session written before the snapshot.
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connectConsole } from '../lib/admin-console.js'
import { loadConfig } from '../src/config.js'
import { findExecutable } from '../src/embedded/tarantool.js'
import { MANIFEST_NAME, scriptOptions, sha256, type Manifest } from '../lib/backup-manifest.js'

const USAGE = `usage: npm run backup -- --out DIR [--data-dir DIR] [--console SOCKET]
  --out       an empty or new directory for the backup
  --data-dir  the instance's data directory (default: DATA_DIR, ./data)
  --console   its admin console socket (default: <data dir>/tarantool.control)`

// Tarantool 2.6.0 cannot recover from a snapshot that holds rows of a synchronous space (a member
// of a replica set): the member the snapshot was taken on could not restart, nor a restore start.
const SNAPSHOT_SAFE = `
local replication = require('sessions.replication')
local s = box.space.sessions
return replication.at_least(2, 6, 1) or s == nil or not s.is_sync`

// Paths come back absolute: box.backup.start() names them relative to the instance's directory.
const START = `
box.snapshot()
local fio = require('fio')
local files = {}
for i, path in ipairs(box.backup.start()) do files[i] = fio.abspath(path) end
return {files = files, space_id = box.space.sessions.id, version = box.info.version}`

const COUNT_LUA = fileURLToPath(new URL('count-snapshot.lua', import.meta.url))

/** Sessions in a snapshot file, counted by a tarantool of its own (the live count moves on). */
function countSessions (snapshot: string, spaceId: number): number {
  const config = loadConfig(process.env, { dotenv: true })
  const bin = findExecutable(config.TARANTOOL_BIN, config.PATH)
  if (bin === undefined) throw new Error(`no tarantool executable "${config.TARANTOOL_BIN}" to count the sessions with`)
  return Number(execFileSync(bin, [COUNT_LUA, snapshot, String(spaceId)], { encoding: 'utf8' }).trim())
}

async function main (): Promise<void> {
  const { dir, dataDir, consoleSocket } = scriptOptions('out', USAGE)
  const out = resolve(dir)
  if (existsSync(out) && readdirSync(out).length > 0) throw new Error(`${out} is not empty: back up into a new directory`)
  const admin = await connectConsole(consoleSocket, { timeoutMs: 10 * 60_000 }).catch((err: Error) => {
    throw new Error(`no Tarantool admin console at ${consoleSocket} (is the service running? --console names another): ${err.message}`)
  })
  try {
    if (!await admin.eval<boolean>(SNAPSHOT_SAFE)) {
      throw new Error('this Tarantool (2.6.0) cannot restart from a snapshot of a replica set\'s synchronous spaces ' +
        '(tarantool#5298): a backup would leave this member unable to restart, and could not be restored. ' +
        'Back up a replica set on Tarantool 2.6.1 or later (2.11)')
    }
    // Owner only, as the data directory: the files hold every token and the instance's secret.
    // An empty directory given is closed too, whatever its mode was.
    mkdirSync(out, { recursive: true, mode: 0o700 })
    chmodSync(out, 0o700)
    const started = await admin.eval<{ files: string[], space_id: number, version: string }>(START)
    try {
      const files = started.files.map((path) => {
        const name = basename(path)
        copyFileSync(path, join(out, name))
        // copyFile keeps the source's mode: files Tarantool wrote before its umask was set are 0644.
        chmodSync(join(out, name), 0o600)
        const bytes = statSync(join(out, name)).size
        console.log(`copied ${path} (${bytes} bytes)`)
        return { name, bytes, sha256: sha256(join(out, name)) }
      })
      const snapshot = files.find((file) => file.name.endsWith('.snap'))
      if (snapshot === undefined) throw new Error('box.backup.start() named no snapshot')
      const sessions = countSessions(join(out, snapshot.name), started.space_id)
      const manifest: Manifest = {
        sessions,
        tarantoolVersion: started.version,
        createdAt: new Date().toISOString(),
        dataDir: resolve(dataDir),
        files
      }
      writeFileSync(join(out, MANIFEST_NAME), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 })
      console.log(`backup of ${sessions} sessions in ${out}`)
    } finally {
      await admin.eval('box.backup.stop()')
    }
  } finally {
    admin.close()
  }
}

main().catch((err: Error) => {
  console.error(`backup failed: ${err.message}`)
  process.exit(1)
})
