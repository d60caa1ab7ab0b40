// What scripts/backup.ts writes beside the files it copies, and scripts/restore.ts (and the tests of
// both) check; and the two scripts' shared options.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig } from '../src/config.js'
import { CONSOLE_SOCKET_NAME } from '../src/embedded/tarantool.js'

export const MANIFEST_NAME = 'manifest.json'

export interface Manifest {
  /** Sessions in the instance when the snapshot was taken. */
  sessions: number
  tarantoolVersion: string
  /** When the backup was taken, ISO 8601. */
  createdAt: string
  /** The instance's data directory it was taken from. */
  dataDir: string
  files: Array<{ name: string, bytes: number, sha256: string }>
}

/** The SHA-256 of a file, hex. */
export function sha256 (path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

/** Reads a backup's manifest. */
export function readManifest (dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, MANIFEST_NAME), 'utf8')) as Manifest
}

/**
 * Parses a script's flags: `dirFlag` (required) plus --data-dir (the service's DATA_DIR by
 * default, from the environment and .env) and --console (<data dir>/tarantool.control).
 */
export function scriptOptions (dirFlag: 'out' | 'from', usage: string): { dir: string, dataDir: string, consoleSocket: string } {
  const die = (message: string): never => {
    console.error(`${message}\n${usage}`)
    process.exit(2)
  }
  let values: Record<string, string | undefined> = {}
  try {
    values = parseArgs({ options: { [dirFlag]: { type: 'string' }, 'data-dir': { type: 'string' }, console: { type: 'string' } } }).values
  } catch (err) {
    die((err as Error).message)
  }
  const dir = values[dirFlag] ?? die(`--${dirFlag} DIR is required`)
  let dataDir = values['data-dir']
  if (dataDir === undefined) {
    try {
      dataDir = loadConfig(process.env, { dotenv: true }).DATA_DIR
    } catch (err) {
      die((err as Error).message)
    }
  }
  return { dir, dataDir: dataDir!, consoleSocket: values.console ?? join(dataDir!, CONSOLE_SOCKET_NAME) }
}
