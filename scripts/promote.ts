// npm run promote -- --console SOCKET [--force]: makes the member whose admin console this is the
// writable one of its replica set (tarantool/sessions/switchover.lua does the work, in the member).
// Without --force it is a planned switchover: the current leader stops taking writes, this member
// receives all it has, then takes the writes; it fails, changing nothing, when no writable member
// answers. --force is the failover after the leader died: this member catches up with the members
// that answer (a majority is needed) and takes the writes without the old leader. Where elections
// run, both ask for this member's election (box.ctl.promote()).
import { parseArgs } from 'node:util'
import { connectConsole } from '../lib/admin-console.js'

const USAGE = `usage: npm run promote -- --console SOCKET [--force] [--timeout SECONDS]
  --console  the admin console socket of the member to make writable (tarantool.control in its directory)
  --force    the leader is dead: take over without it (see tarantool/README.md for what this can lose)
  --timeout  seconds to catch up with the others (default: 2 x replication_synchro_timeout + 5)`

interface Promoted {
  id: number
  uuid: string
  ro: boolean
  lsn: number
  already?: boolean
  elected?: boolean
  term?: number
  previous?: number
  forced?: boolean
  unreachable?: string[]
}

function options (): { socket: string, force: boolean, timeout?: number } {
  const die = (message: string): never => {
    console.error(`${message}\n${USAGE}`)
    process.exit(2)
  }
  try {
    const { values } = parseArgs({ options: { console: { type: 'string' }, force: { type: 'boolean' }, timeout: { type: 'string' } } })
    const timeout = values.timeout === undefined ? undefined : Number(values.timeout)
    if (timeout !== undefined && !(timeout > 0)) die('--timeout must be a positive number of seconds')
    return { socket: values.console ?? die('--console SOCKET is required'), force: values.force === true, timeout }
  } catch (err) {
    return die((err as Error).message)
  }
}

function describe (result: Promoted): string {
  const member = `the member with id ${result.id} (${result.uuid})`
  if (result.already === true) return `${member} is the writable one already`
  if (result.elected === true) return `${member} was elected leader in term ${result.term}`
  const from = result.previous !== undefined ? ` in place of the one with id ${result.previous}` : ''
  const unreachable = result.unreachable !== undefined && result.unreachable.length > 0
    ? `\nnot reachable: ${result.unreachable.join('; ')}`
    : ''
  return `${member} is the writable one${from}${result.forced === true ? ' (forced)' : ''}, at lsn ${result.lsn}${unreachable}`
}

async function main (): Promise<void> {
  const { socket, force, timeout } = options()
  const admin = await connectConsole(socket, { timeoutMs: 10 * 60_000 }).catch((err: Error) => {
    throw new Error(`no Tarantool admin console at ${socket}: ${err.message}`)
  })
  try {
    const args = `{force = ${force ? 'true' : 'false'}${timeout !== undefined ? `, timeout = ${timeout}` : ''}}`
    const result = await admin.eval<Promoted>(`return require('sessions.switchover').promote(${args})`)
    console.log(describe(result))
  } finally {
    admin.close()
  }
}

main().catch((err: Error) => {
  console.error(`promote failed: ${err.message}`)
  process.exit(1)
})
