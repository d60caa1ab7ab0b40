// tarantool/sessions/json_size.lua measures extra data as JSON.stringify would write it, for
// values as the service sends them: through the service's own Tarantool client (msgpack-lite for
// maps), to a Tarantool of the test's own that measures each value as the call's argument and as
// the map field of a tuple read back.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../lib/processes.js'
import { INIT_LUA, waitListening } from '../../src/embedded/tarantool.js'
import { TarantoolClient } from '../../src/store/tarantool-client.js'
import { seededRandom } from '../support/hostile.js'
import { missing } from '../support/programs.js'
import { TARANTOOL_BIN } from '../support/tarantool.js'

const PASSWORD = 'json-size'
const SEED = 20240611
const RANDOM_VALUES = 3000

// `measure(v)`: the size of v as the argument and as read back from a tuple, each with whether
// it exceeds one byte less and its own size. `shapes(v)`: what Lua holds for each of v's fields.
// `stops_early(v, max)`: exceeds() on v with a value it cannot measure after it. `plain_sizes()`:
// sizes of tables built in Lua, without __serialize.
const SCRIPT = `
  package.path = '${dirname(INIT_LUA)}/?.lua;' .. package.path
  local json_size = require('sessions.json_size')
  local ffi = require('ffi')
  box.cfg{log_level = 2}
  box.schema.user.create('test', {password = '${PASSWORD}'})
  box.schema.user.grant('test', 'read,write,execute', 'universe')
  local values = box.schema.space.create('values', {temporary = true,
      format = {{'id', 'unsigned'}, {'extra', 'map'}}})
  values:create_index('primary')

  local function sized(v)
      local n = json_size.size(v)
      return {n, json_size.exceeds(v, n - 1), json_size.exceeds(v, n)}
  end
  local last_id = 0
  function measure(v)
      last_id = last_id + 1
      local stored = values:insert{last_id, v}.extra
      values:delete(last_id)
      return {sized(v), sized(stored)}
  end

  local function shape(v)
      if type(v) == 'table' then return 'table ' .. tostring((getmetatable(v) or {}).__serialize) end
      if type(v) == 'cdata' then return tostring(ffi.typeof(v)) end
      return type(v)
  end
  local function shapes_of(t)
      local out = setmetatable({}, {__serialize = 'map'})
      for k, v in pairs(t) do out[k] = shape(v) end
      out['(itself)'] = shape(t)
      return out
  end
  function shapes(v)
      return {shapes_of(v), shapes_of(values:replace{0, v}.extra)}
  end

  function stops_early(v, max)
      v[#v + 1] = function() end
      return pcall(json_size.exceeds, v, max)
  end

  function plain_sizes()
      return {json_size.size({}), json_size.size({1, 'a'}), json_size.size({a = 1, b = {}}),
          select(2, pcall(json_size.size, {1, 2, a = 3}))}
  end
  -- Listen last: a login before the user exists would be refused for good.
  box.cfg{listen = os.getenv('LISTEN')}
`

// Numbers where the shortest digits are easy to get wrong, and where Lua's number types change.
const NASTY_NUMBERS = [
  0, -0, 1, -1, 0.1 + 0.2, 1e21, 1e-7, 1e-6, 0.000001234, 5e-324, -5e-324, 2 ** 53, 2 ** 53 - 1,
  -(2 ** 53), 123e-20, 123456789012345680000, 1e20, 999999999999999900000, 1.7976931348623157e308,
  2 ** 31, 2 ** 31 - 1, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32, 2 ** 60, 2 ** 63, -(2 ** 63), 2 ** 64,
  1e19, -1e19, 1.5, -2.5, 100, 1e15, 1e16, 1e17, 12345.6789, Number.EPSILON, Math.PI, 2.2250738585072014e-308
]

/** Every power of two a double holds and its neighbours: where the gaps below and above differ. */
function powersOfTwo (): number[] {
  const out: number[] = []
  for (let e = -1074; e <= 1023; e++) {
    const x = 2 ** e
    out.push(x, x * (1 + Number.EPSILON), -x)
    if (e > -1074) out.push(x - 2 ** Math.max(e - 53, -1074))
  }
  return out
}

// Characters JSON.stringify escapes (all controls, quotes, backslashes), and those it leaves:
// '/', 0x7f, multi-byte UTF-8, non-BMP pairs, and lone surrogates, which Node writes as U+FFFD.
const CHARS = [
  ...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)),
  '"', '\\', '/', '\x7f', 'a', 'Z', '0', ' ', 'é', '€', '\u2028', '\ufffd', '😀', '𝄞', '\ud800', '\udfff', '\udbff'
]

/** Random JSON values, as a JSON or form body can carry them. */
class Values {
  constructor (private readonly random: () => number) {}

  pick<T> (items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]
  }

  string (): string {
    let s = ''
    const length = this.pick([0, 1, 2, 5, 20])
    for (let i = 0; i < length; i++) s += this.pick(CHARS)
    return s
  }

  number (): number {
    const r = this.random()
    if (r < 0.3) return this.pick(NASTY_NUMBERS)
    if (r < 0.5) return Math.floor((this.random() - 0.5) * 2 ** Math.floor(this.random() * 70))
    if (r < 0.7) return 10 ** Math.floor(this.random() * 640 - 330) * (this.random() < 0.5 ? 1 : -1)
    if (r < 0.85) return Math.round(this.random() * 1e6) / 10 ** Math.floor(this.random() * 8)
    const bits = new DataView(new ArrayBuffer(8))
    bits.setUint32(0, Math.floor(this.random() * 2 ** 32))
    bits.setUint32(4, Math.floor(this.random() * 2 ** 32))
    const x = bits.getFloat64(0)
    return Number.isFinite(x) ? x : 0
  }

  value (depth: number): unknown {
    const r = this.random()
    if (depth > 0 && r < 0.15) return this.object(depth - 1)
    if (depth > 0 && r < 0.25) return Array.from({ length: this.pick([0, 1, 3, 6]) }, () => this.value(depth - 1))
    if (r < 0.55) return this.string()
    if (r < 0.85) return this.number()
    return this.pick([true, false, null])
  }

  object (depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    const size = this.pick([0, 1, 2, 4, 8])
    for (let i = 0; i < size; i++) out[this.string()] = this.value(depth)
    return out
  }
}

/** The value as stored: its strings and keys through UTF-8, as Node writes them. */
function asStored (v: unknown): unknown {
  if (typeof v === 'string') return Buffer.from(v).toString()
  if (Array.isArray(v)) return v.map(asStored)
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, item]) => [asStored(k), asStored(item)]))
  }
  return v
}

const jsonBytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(asStored(v)))

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('json_size', () => {
  let dir: string
  let proc: ChildProcess
  let client: TarantoolClient

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sessions-json-size-'))
    const script = join(dir, 'json-size.lua')
    writeFileSync(script, SCRIPT)
    const port = await freePort()
    let output = ''
    proc = spawn(TARANTOOL_BIN!, [script], { cwd: dir, env: { LISTEN: `127.0.0.1:${port}` } })
    proc.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
    if (!(await waitListening(port, () => proc.exitCode !== null, 30_000))) {
      throw new Error(`Tarantool did not start:\n${output}`)
    }
    client = new TarantoolClient({ host: '127.0.0.1', port, user: 'test', password: PASSWORD, timeoutMs: 10_000 })
    await client.waitConnected(10_000)
  })
  afterAll(async () => {
    client?.close()
    if (proc !== undefined && proc.exitCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  })

  /** Each extra's [size, exceeds(size - 1), exceeds(size)], as the argument and as stored. */
  async function measureAll (extras: Array<Record<string, unknown>>): Promise<Array<[unknown[], unknown[]]>> {
    return await Promise.all(extras.map(async (extra) => (await client.call('measure', [extra]))[0] as [unknown[], unknown[]]))
  }

  /** Checks each extra's size against JSON.stringify's, and fails with the first that differs. */
  async function expectSizes (extras: Array<Record<string, unknown>>): Promise<void> {
    const measured = await measureAll(extras)
    for (const [i, extra] of extras.entries()) {
      const n = jsonBytes(extra)
      expect({ extra, sizes: measured[i] }).toEqual({ extra, sizes: [[n, true, false], [n, true, false]] })
    }
  }

  it('holds maps and arrays with their kind, empty ones too; integers from 1e14 up come back from a tuple as 64-bit cdata', async () => {
    const [[argument, stored]] = await client.call('shapes', [{ map: {}, seq: [], full: { a: 1 }, small: 5, below: 1e14 - 1, from: 1e14, big: 2 ** 60, negative: -(2 ** 60), fraction: 1.5, none: null, yes: true, text: 'x' }]) as [[unknown, unknown]]
    expect(argument).toEqual({
      '(itself)': 'table map',
      map: 'table map',
      seq: 'table seq',
      full: 'table map',
      small: 'number',
      below: 'number',
      from: 'number',
      big: 'number',
      negative: 'number',
      fraction: 'number',
      none: 'ctype<void *>',
      yes: 'boolean',
      text: 'string'
    })
    expect(stored).toEqual({
      '(itself)': 'table map',
      map: 'table map',
      seq: 'table seq',
      full: 'table map',
      small: 'number',
      below: 'number',
      from: 'ctype<uint64_t>',
      big: 'ctype<uint64_t>',
      negative: 'ctype<int64_t>',
      fraction: 'number',
      none: 'ctype<void *>',
      yes: 'boolean',
      text: 'string'
    })
  })

  it('measures numbers as Number#toString writes them: nasty ones, and every power of two with its neighbours', async () => {
    const numbers = [...NASTY_NUMBERS, ...powersOfTwo()]
    await expectSizes(numbers.map((n) => ({ n })))
  })

  it('measures strings as JSON.stringify escapes them, lone surrogates as the U+FFFD stored', async () => {
    const one = CHARS.map((c) => ({ [c]: c }))
    const all = { all: CHARS.join(''), [CHARS.join('')]: [CHARS.join('')] }
    await expectSizes([...one, all, { '': '' }])
  })

  it(`measures ${RANDOM_VALUES} random values as JSON.stringify does (seed ${SEED})`, async () => {
    const values = new Values(seededRandom(SEED))
    await expectSizes(Array.from({ length: RANDOM_VALUES }, () => values.object(4)))
  })

  it('stops measuring once past the limit', async () => {
    expect(await client.call('stops_early', [['x'.repeat(100)], 50])).toEqual([true, true])
    expect(await client.call('stops_early', [[{ a: 'xx' }, 1, 2, 3], 10])).toEqual([true, true])
    const [passed, error] = await client.call('stops_early', [['x'.repeat(100)], 200])
    expect(passed).toBe(false)
    expect(error).toMatch(/cannot measure a value of type function/)
  })

  it('takes a table built in Lua for an array when its keys are 1..n, else for a map of string keys', async () => {
    const [[empty, array, map, mixed]] = await client.call('plain_sizes', []) as [[number, number, number, string]]
    expect([empty, array, map]).toEqual([2, '[1,"a"]'.length, '{"a":1,"b":[]}'.length])
    expect(mixed).toMatch(/cannot measure a map key of type number/)
  })
})
