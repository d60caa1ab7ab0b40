// A client of Tarantool's admin console on a unix socket (`console.listen('unix/:PATH')`): what
// operator tools (backup, restore checks, benchmarks) and the tests use. The service itself never
// needs it (where the embedded instance's console listens: CONSOLE_SOCKET_NAME in
// src/embedded/tarantool.ts).
//
// The console runs one line of Lua at a time and answers in YAML. To stay exact whatever the chunk
// returns, each chunk travels base64-encoded on one line and its result comes back as base64 of
// JSON, so no YAML needs parsing.
import { createConnection, type Socket } from 'node:net'

const DEFAULT_TIMEOUT_MS = 60_000
const END_OF_ANSWER = '\n...\n'

export interface AdminConsole {
  /**
   * Runs a Lua chunk as admin. Its first return value comes back decoded from JSON (nil as null);
   * a Lua error rejects with its message.
   */
  eval: <T = unknown>(lua: string, opts?: { timeoutMs?: number }) => Promise<T>
  close: () => void
}

// One console line: loads the chunk, runs it protected, and answers base64(JSON({ok, value|error})).
function wrap (lua: string): string {
  const chunk = Buffer.from(lua).toString('base64')
  return 'local d, j = require(\'digest\'), require(\'json\') ' +
    `local ok, r = pcall(function () local f, e = load(d.base64_decode('${chunk}'), '=console-eval') ` +
    'if f == nil then error(e, 0) end return j.encode({ok = true, value = f()}) end) ' +
    'if not ok then r = j.encode({ok = false, error = tostring(r)}) end ' +
    'return d.base64_encode(r, {nowrap = true})\n'
}

function parse<T> (answer: string): T {
  // "---\n- <base64>\n...\n"; YAML may quote a scalar that looks like a number.
  const match = /^---\n- '?([A-Za-z0-9+/=]*)'?\n\.\.\.\n$/.exec(answer)
  if (match === null) throw new Error(`Unexpected answer from the Tarantool console: ${answer.slice(0, 200)}`)
  const result = JSON.parse(Buffer.from(match[1], 'base64').toString('utf8')) as { ok: boolean, value?: T, error?: string }
  if (!result.ok) throw new Error(result.error)
  return result.value ?? (null as T)
}

/** Connects to an admin console socket; rejects if nothing answers there within the timeout. */
export async function connectConsole (socketPath: string, opts: { timeoutMs?: number } = {}): Promise<AdminConsole> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const socket: Socket = createConnection(socketPath)
  socket.setEncoding('utf8')
  let buffer = ''
  let waiter: { done: (text: string) => boolean, fail: (err: Error) => void } | undefined
  let closedWith: Error | undefined

  socket.on('data', (chunk: string) => {
    buffer += chunk
    if (waiter?.done(buffer) === true) waiter = undefined
  })
  const onGone = (err?: Error): void => {
    closedWith ??= err ?? new Error('The Tarantool console closed the connection')
    waiter?.fail(closedWith)
    waiter = undefined
  }
  socket.on('error', onGone)
  socket.on('close', () => onGone())

  // Resolves with the text up to and including `end` once it has arrived.
  const read = (end: string | ((text: string) => number), ms: number): Promise<string> =>
    new Promise((resolve, reject) => {
      if (closedWith !== undefined) { reject(closedWith); return }
      const timer = setTimeout(() => {
        waiter = undefined
        socket.destroy()
        reject(new Error(`The Tarantool console at ${socketPath} did not answer within ${ms} ms`))
      }, ms)
      const done = (text: string): boolean => {
        const at = typeof end === 'string' ? (text.indexOf(end) >= 0 ? text.indexOf(end) + end.length : -1) : end(text)
        if (at < 0) return false
        clearTimeout(timer)
        buffer = text.slice(at)
        resolve(text.slice(0, at))
        return true
      }
      const fail = (err: Error): void => { clearTimeout(timer); reject(err) }
      if (!done(buffer)) waiter = { done, fail }
    })

  // The greeting is two lines: "Tarantool X.Y.Z (Lua console)" and a hint.
  const greeting = await read((text) => {
    const first = text.indexOf('\n')
    const second = first < 0 ? -1 : text.indexOf('\n', first + 1)
    return second < 0 ? -1 : second + 1
  }, Math.min(timeoutMs, 10_000)).catch((err: Error) => { socket.destroy(); throw err })
  if (!greeting.startsWith('Tarantool ')) {
    socket.destroy()
    throw new Error(`${socketPath} is not a Tarantool console`)
  }

  // One chunk at a time: the console answers in order, and a queue keeps answers paired.
  let queue: Promise<unknown> = Promise.resolve()
  return {
    eval: async <T>(lua: string, evalOpts: { timeoutMs?: number } = {}): Promise<T> => {
      const run = queue.then(async () => {
        socket.write(wrap(lua))
        return parse<T>(await read(END_OF_ANSWER, evalOpts.timeoutMs ?? timeoutMs))
      })
      queue = run.catch(() => {})
      return await run
    },
    close: () => { socket.end() }
  }
}

/** Runs `lua` on a console socket once; rejects when nothing answers there. */
export async function consoleEval<T> (socket: string, lua: string, timeoutMs = 10_000): Promise<T> {
  const admin = await connectConsole(socket, { timeoutMs })
  try {
    return await admin.eval<T>(lua)
  } finally {
    admin.close()
  }
}
