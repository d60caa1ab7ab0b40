// 20,000 generated hostile requests over real HTTP (some as raw bytes no client library would send):
// every answer is the API's envelope with 200 or a 4xx, never a 5xx, and the service still works
// afterwards. The requests come from a seed, printed: FUZZ_SEED=<seed> replays a failing run.
import { Agent } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERRORS, isErrorCode } from '../src/api/errors.js'
import { buildApp, newSession } from './support/app.js'
import { startTarantool, type TestTarantool } from './support/tarantool.js'
import { http } from './support/http.js'
import { HostileRequests, seededRandom, type HostileRequest } from './support/hostile.js'

const REQUESTS = 20_000
const CONCURRENCY = 16
const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32))

interface Answer { status: number, text: string }

/** What is wrong with an answer, or undefined when it is a proper envelope with 200 or a 4xx. */
function problemWith ({ status, text }: Answer): string | undefined {
  if (!(status === 200 || (status >= 400 && status < 500))) return `status ${status}`
  let body: { status?: unknown, data?: unknown, code?: unknown, message?: unknown }
  try {
    body = JSON.parse(text)
  } catch {
    return 'a body that is not JSON'
  }
  if (status === 200) {
    // A list's envelope has its `next` cursor too.
    const paged = 'next' in body && (body.next === null || typeof body.next === 'string')
    const wellFormed = body.status === 'success' && typeof body.data === 'object' && body.data !== null &&
      Object.keys(body).length === (paged ? 3 : 2)
    return wellFormed ? undefined : 'a malformed success envelope'
  }
  if (body.status !== 'error' || !isErrorCode(body.code) || typeof body.message !== 'string' || Object.keys(body).length !== 3) {
    return 'a malformed error envelope'
  }
  return ERRORS[body.code].status === status ? undefined : `code ${body.code} with status ${status}`
}

/** Splits what a server wrote on a connection into its answers (bodies are Content-Length framed). */
function parseAnswers (data: Buffer): Answer[] {
  const answers: Answer[] = []
  let rest = data
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n')
    if (end < 0) throw new Error(`a truncated answer: ${JSON.stringify(rest.toString().slice(0, 200))}`)
    const head = rest.subarray(0, end).toString('latin1')
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1])
    if (status >= 100 && status < 200) {
      // 100 Continue, for an Expect header: no body, the answer follows.
      rest = rest.subarray(end + 4)
      continue
    }
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN)
    if (!Number.isInteger(status) || !Number.isInteger(length)) throw new Error(`an answer without status or length: ${head}`)
    answers.push({ status, text: rest.subarray(end + 4, end + 4 + length).toString() })
    rest = rest.subarray(end + 4 + length)
  }
  return answers
}

/**
 * Writes raw bytes on a new connection and reads until the server closes it (the requests say
 * Connection: close). It does not half-close its side as it would with end(): Node drops the
 * requests of a client that does (httpAllowHalfOpen is false), as browsers and curl never do.
 */
function sendRaw (port: number, bytes: Buffer): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes))
    socket.setTimeout(15_000, () => socket.destroy(new Error('no answer within 15 s')))
    socket.on('data', (chunk) => chunks.push(chunk))
    // The server may close before it has read all we sent (an early 4xx): what it wrote still counts.
    socket.on('error', (err: NodeJS.ErrnoException) => { if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err) })
    socket.on('close', () => {
      try {
        resolve(parseAnswers(Buffer.concat(chunks)))
      } catch (err) {
        reject(err)
      }
    })
  })
}

function describeRequest (request: HostileRequest): string {
  const text = request.kind === 'raw'
    ? request.bytes.toString('latin1')
    : `${request.method} ${request.path} ${JSON.stringify(request.headers)} ${request.body?.toString('latin1') ?? ''}`
  return JSON.stringify(text.length > 600 ? `${text.slice(0, 600)}...(${text.length} chars)` : text)
}

describe('fuzz', () => {
  let tarantool: TestTarantool
  let app: FastifyInstance
  let port: number
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  beforeAll(async () => {
    // An instance of its own: the fuzz creates sessions by the thousand.
    tarantool = await startTarantool()
    app = await buildApp({ uri: tarantool.uri, env: { REQUEST_TIMEOUT_MS: '2000' } })
    await app.listen({ port: 0, host: '127.0.0.1' })
    port = (app.server.address() as AddressInfo).port
  })
  afterAll(async () => {
    agent.destroy()
    await app?.close()
    await tarantool?.stop()
  })

  it(`answers ${REQUESTS} hostile requests with envelopes, never a 5xx`, { timeout: 180_000 }, async () => {
    console.log(`fuzz seed ${seed} (FUZZ_SEED=${seed} npx vitest run test/fuzz.test.ts replays it)`)
    const tokens = await Promise.all(Array.from({ length: 20 }, async () => (await newSession(app)).token))
    const requests = new HostileRequests(seededRandom(seed), tokens)
    const statuses = new Map<number, number>()
    let sent = 0
    let failure: string | undefined

    const check = async (n: number, request: HostileRequest): Promise<void> => {
      let answers: Answer[]
      try {
        answers = request.kind === 'raw'
          ? await sendRaw(port, request.bytes)
          : [await http(port, request.path, { ...request, agent, timeoutMs: 15_000 })]
        if (answers.length === 0) throw new Error('no answer')
      } catch (err) {
        failure ??= `request #${n} got ${(err as Error).message}: ${describeRequest(request)}`
        return
      }
      for (const answer of answers) {
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
        const problem = problemWith(answer)
        if (problem !== undefined) failure ??= `request #${n} got ${problem} (${answer.text.slice(0, 300)}): ${describeRequest(request)}`
      }
    }
    const worker = async (): Promise<void> => {
      while (sent < REQUESTS && failure === undefined) {
        const n = sent++
        await check(n, requests.next())
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))

    console.log(`fuzz statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`)
    expect(failure, `seed ${seed}`).toBeUndefined()
    expect(sent).toBe(REQUESTS)

    // Still serving, and serving right.
    const session = await newSession(app, 7, '192.0.2.7', { after: 'fuzz' })
    const res = await http(port, `/get?token=${session.token}`)
    expect(res.status).toBe(200)
    expect(res.body.data).toMatchObject({ user_id: 7, ip: '192.0.2.7', extra: { after: 'fuzz' } })
  })
})
