// The floor: a bare Fastify server whose /get makes one call, through the service's own Tarantool
// client, to a procedure that does nothing (floor.lua, on a Tarantool of its own), and answers the
// reference's /get body. Between the reference and it: what one Tarantool round trip costs on this
// machine. Between it and the service: what the service's own work costs, in Node and in Lua.
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import { freePort } from '../lib/processes.js'
import { findExecutable, waitListening } from '../src/embedded/tarantool.js'
import { TarantoolClient } from '../src/store/tarantool-client.js'

const bodies = JSON.parse(readFileSync(process.env.REFERENCE_BODIES!, 'utf8')) as Record<string, { data: Record<string, unknown> }>
const bin = findExecutable('tarantool', process.env.PATH)
if (bin === undefined) throw new Error('the floor needs a tarantool executable in PATH')
const dir = process.env.FLOOR_DIR!
mkdirSync(dir, { recursive: true })
const port = await freePort()
const password = randomUUID()
const tarantool = spawn(bin, [join(import.meta.dirname, 'floor.lua'), String(port), dir, password, String(process.pid)], { stdio: 'inherit' })
process.once('exit', () => tarantool.kill('SIGKILL'))
if (!(await waitListening(port, () => tarantool.exitCode !== null, 30_000))) throw new Error('the floor\'s Tarantool did not start')

const client = new TarantoolClient({ host: '127.0.0.1', port, user: 'floor', password, timeoutMs: 10_000 })
await new Promise((resolve) => client.once('connect', resolve))
const get = bodies['/get']
const app = Fastify()
app.get('/get', async (request) => {
  const { token } = request.query as { token: string }
  const [t] = await client.call('floor_get', [client.uuid(token), null, null, 2048]) as [unknown[]]
  return { ...get, data: { ...get.data, user_id: t[1] } }
})
await app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' })
process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
