// The seed's PHP client, run by a real PHP: a form body sent with a GET. Skipped where there is no
// `php`, but under CI (which installs Debian's php-cli).
import { execFile } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findExecutable } from '../src/embedded/tarantool.js'
import { buildApp, newSession } from './support/app.js'
import { missing } from './support/programs.js'

const PHP = findExecutable('php', process.env.PATH)

// The seed README's example, word for word but for the URL (argv[1]) and the ignore_errors switch
// (argv[2]) that our README tells PHP users to set.
const SEED_CLIENT = `
$context = stream_context_create([
	'http' => [
		'method'  => 'GET',
		'header'  => 'Content-Type: application/x-www-form-urlencoded' . PHP_EOL,
		'content' => http_build_query(['device'=>'Nexus 5', 'os'=> 'Android']),
		'ignore_errors' => $argv[2] === 'yes',
	]
]);
echo file_get_contents($argv[1], FALSE, $context);
`

let app: FastifyInstance
let base: string
beforeAll(async () => {
  app = await buildApp()
  await app.listen({ port: 0, host: '127.0.0.1' })
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
})
afterAll(async () => { await app.close() })

const php = async (url: string, ignoreErrors: boolean): Promise<string> =>
  (await promisify(execFile)(PHP!, ['-r', SEED_CLIENT, '--', url, ignoreErrors ? 'yes' : 'no'])).stdout

describe.skipIf(missing('php', PHP))('the seed PHP client', () => {
  it('stores its form body, sent with a GET, as extra data', async () => {
    const session = await newSession(app)
    const reply = JSON.parse(await php(`${base}/get?token=${session.token}`, false))
    expect(reply).toEqual({
      status: 'success',
      data: { ...session, activity: expect.any(Number), expires: expect.any(Number), extra: { device: 'Nexus 5', os: 'Android' } }
    })
  })

  it('reads the error envelope with ignore_errors', async () => {
    const reply = JSON.parse(await php(`${base}/get?token=00000000-0000-4000-8000-000000000000`, true))
    expect(reply).toEqual({ status: 'error', code: 'token_not_found', message: 'Session not found' })
  })
})
