// Generated hostile requests for the fuzz test, reproducible from a seed.

/** A seeded pseudo-random source of numbers in [0, 1) (mulberry32): the same seed, the same requests. */
export function seededRandom (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A request as the fuzz test sends it: through an HTTP client, or as raw bytes on a socket. */
export type HostileRequest =
  | { kind: 'http', method: string, path: string, headers: Record<string, string>, body?: Buffer }
  | { kind: 'raw', bytes: Buffer }

// Values that have broken parsers and stores before: numbers at the edges, addresses nearly
// right, code for the languages around (Lua, SQL, JS, shells), encodings gone wrong.
const NASTY = [
  '', ' ', '0', '-0', '-1', '1.5', '1e3', '0x10', '+1', ' 1', '1 ', '007',
  '9007199254740991', '9007199254740992', '18446744073709551615', '18446744073709551616',
  '1'.repeat(40), 'NaN', 'Infinity', '-Infinity', 'null', 'nil', 'true', 'undefined', '[]', '{}',
  '127.0.0.1', '0.0.0.0', '255.255.255.255', '256.1.1.1', '1.2.3', '01.2.3.4', '127.1', '::', '::1',
  '::ffff:1.2.3.4', '2001:DB8::1', 'fe80::1%eth0', '1::2::3', '[::1]', 'localhost',
  '61494096-9af7-49ba-9fb4-e89c0811e6d3', '00000000-0000-0000-0000-000000000000',
  '61494096-9AF7-49BA-9FB4-E89C0811E6D3', '61494096-9af7-49ba-9fb4-e89c0811e6d',
  "' OR '1'='1", '1; DROP TABLE sessions; --', 'SELECT * FROM "_space"', 'box.space.sessions:truncate()',
  'os.execute("id")', ']]..os.exit()..[[', 'require("fio").rmtree("/")', '%s%s%s%n', '\\', '"', "'",
  '%', '%%', '%zz', '%00', '%C3%28', '%FF%FE', '%u0041', '%E2%82', '../../etc/passwd', '<script>x</script>',
  '${jndi:ldap://x/a}', '$(id)', '`id`', '__proto__', 'constructor', 'prototype', 'toString',
  '\u0000', '\u0001\u001f', '\ud800', '\udfff', '\ufeff', '\u202e', 'ümlaut', '日本語', '🙂🙂', 'ﷺ', 'A\u030a'
]

const PATHS = ['/new', '/get', '/del', '/user', '/ip', '/', '/NEW', '/new/', '//new', '/new;x', '/%2e%2e/new',
  '/get%00', '/user/../ip', '/ip%2F', '/del.json', '/get/extra', '/%zz', '/%C3%28', '/日本']
const PARAMS = ['user_id', 'id', 'ip', 'token', 'extra', 'user_id[]', 'token[0]', '__proto__', 'constructor[prototype][x]', 'a', '']
const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']
const CONTENT_TYPES = [undefined, 'application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON',
  'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=latin1', 'text/plain',
  'multipart/form-data; boundary=x', 'application/jsonx', 'application/json-patch+json', '*/*', '', 'garbage;;;=',
  'application/json; charset=utf-16', ' application/json', 'application/xml']
const BROKEN_JSON = ['{', '{"a":', '{"a":1,}', "{'a':1}", 'nul', '[1,2', '"\\ud800"', '{"a":"\\u00"}', '{"__proto__":{"x":1}}',
  '{"constructor":{"prototype":{"x":1}}}', '1', '"text"', '[]', 'null', '{"a":1}{"b":2}', '\ufeff{"a":1}', '{"a":1e400}',
  '{"":null}', '{"a":-0}', '{"a":123456789012345678901234567890}']

/** Builds one generated request after another from `random`. */
export class HostileRequests {
  constructor (private readonly random: () => number, private readonly tokens: string[]) {}

  private int (n: number): number { return Math.floor(this.random() * n) }
  private chance (p: number): boolean { return this.random() < p }
  private pick<T> (items: readonly T[]): T { return items[this.int(items.length)] }

  /** A string from the nasty list, random unicode, or a huge run. */
  value (): string {
    const roll = this.random()
    if (roll < 0.6) return this.pick(NASTY)
    if (roll < 0.7) return this.pick(this.tokens)
    if (roll < 0.95) {
      return Array.from({ length: this.int(30) }, () => String.fromCodePoint(this.chance(0.7) ? 32 + this.int(95) : this.int(0x11000))).join('')
    }
    // Now and then past the limits: 16 KiB of URL, 32 KiB of body.
    return this.pick(NASTY).repeat(1 + this.int(this.chance(0.2) ? 800 : 50)) || 'x'.repeat(this.int(20_000))
  }

  /** A JSON value of random shape: deep, wide, special keys, big and odd numbers. */
  json (depth = 0): unknown {
    const roll = this.random()
    if (depth > 40 || roll < 0.3) return this.pick<unknown>([this.value(), this.int(1e6), -1.5, 2 ** 64, 1e308, null, true, false])
    if (roll < 0.6) return Array.from({ length: this.int(depth > 5 ? 2 : 6) }, () => this.json(depth + 1))
    return Object.fromEntries(Array.from({ length: this.int(depth > 5 ? 2 : 6) }, () => [this.value(), this.json(depth + 1)]))
  }

  private form (): string {
    return Array.from({ length: this.int(12) }, () => {
      const key = this.chance(0.5) ? this.pick(PARAMS) : this.value()
      const raw = this.chance(0.3)
      return `${raw ? key : encodeURIComponent(safe(key))}=${raw ? this.value() : encodeURIComponent(safe(this.value()))}`
    }).join(this.chance(0.9) ? '&' : '&&')
  }

  private body (): Buffer | undefined {
    const roll = this.random()
    if (roll < 0.3) return undefined
    if (roll < 0.35) return Buffer.alloc(0)
    if (roll < 0.55) return Buffer.from(JSON.stringify(this.json()) ?? 'null')
    if (roll < 0.65) return Buffer.from(this.pick(BROKEN_JSON))
    if (roll < 0.85) return Buffer.from(this.form())
    if (roll < 0.95) return Buffer.from(Array.from({ length: this.int(200) }, () => this.int(256)))
    return Buffer.from(JSON.stringify({ a: 'x'.repeat(this.int(40_000)) }))
  }

  /** A query string: known and odd names, repeated, values percent-encoded or left broken. */
  private query (raw: boolean): string {
    const params = Array.from({ length: this.int(7) }, () => {
      const name = this.chance(0.8) ? this.pick(PARAMS) : this.value()
      const value = this.value()
      const enc = (s: string): string => raw ? s : this.chance(0.15) ? asciiOnly(s) : encodeURIComponent(safe(s))
      return this.chance(0.05) ? enc(name) : `${enc(name)}=${enc(value)}`
    })
    return params.length === 0 && this.chance(0.5) ? '' : `?${params.join('&')}`
  }

  /** A valid /new or /get (so that the body reaches Tarantool), now and then with odd parameters. */
  private validPath (): string {
    const ip = this.pick(['127.0.0.1', '::1', '2001:DB8::1', '::ffff:10.0.0.1'])
    const path = this.chance(0.5)
      ? `/new?user_id=${this.pick(['0', '1', '9007199254740991', String(this.int(1e9))])}&ip=${encodeURIComponent(ip)}`
      : `/get?token=${this.pick(this.tokens)}${this.chance(0.5) ? `&ip=${encodeURIComponent(ip)}` : ''}`
    return this.chance(0.2) ? path + this.query(false).replace('?', '&') : path
  }

  /** The next request. */
  next (): HostileRequest {
    if (this.chance(0.35)) {
      const contentType = this.pick(['application/json', 'application/x-www-form-urlencoded', 'application/json; charset=utf-8'])
      return { kind: 'http', method: this.pick(['GET', 'POST']), path: this.validPath(), headers: { 'content-type': contentType }, body: this.body() }
    }
    const raw = this.chance(0.15)
    const method = this.pick(METHODS)
    const path = (raw ? this.pick(PATHS) : asciiOnly(this.pick(PATHS))) + this.query(raw)
    const contentType = this.pick(CONTENT_TYPES)
    const body = this.body()
    if (!raw) {
      const headers: Record<string, string> = {}
      if (contentType !== undefined) headers['content-type'] = contentType
      return { kind: 'http', method, path, headers, body }
    }
    return { kind: 'raw', bytes: this.rawRequest(method, path, contentType, body) }
  }

  /** Bytes a client library would not send: broken URLs, lengths and chunking. */
  private rawRequest (method: string, path: string, contentType: string | undefined, body: Buffer | undefined): Buffer {
    // Invalid UTF-8 at the end, now and then.
    const target = Buffer.concat([Buffer.from(path), Buffer.from(this.chance(0.3) ? [0x80 + this.int(128), 0x28] : [])])
    const lines = ['Host: 127.0.0.1', 'Connection: close']
    if (contentType !== undefined) lines.push(`Content-Type: ${contentType}`)
    const payload = body ?? Buffer.alloc(0)
    let framed = payload
    const framing = this.int(6)
    if (framing === 0) {
      lines.push('Transfer-Encoding: chunked')
      framed = Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')])
    } else if (framing === 1) {
      lines.push('Transfer-Encoding: chunked')
      framed = Buffer.concat([Buffer.from(this.pick(['zz\r\n', '-1\r\n', 'ffffffffffffffffff\r\n', '5;x=\x01\r\n'])), payload, Buffer.from('\r\n0\r\n\r\n')])
    } else if (framing === 2) {
      lines.push(`Content-Length: ${this.pick(['-1', 'abc', '1, 2', '99999999999999999999', ' 0'])}`)
    } else if (framing === 3) {
      lines.push(`Content-Length: ${payload.length}`, `Content-Length: ${payload.length + 1}`)
    } else if (framing === 4) {
      // Fewer bytes announced than sent: the rest reads as a second, garbage request.
      lines.push(`Content-Length: ${this.int(payload.length + 1)}`)
    } else {
      lines.push(`Content-Length: ${payload.length}`)
    }
    if (this.chance(0.2)) lines.push(this.pick(['X-Bad\u0001: 1', 'Bad Header: 1', ': empty-name', 'X-Long: ' + 'a'.repeat(20_000), 'Expect: 100-continue']))
    return Buffer.concat([Buffer.from(`${method} `), target, Buffer.from(` HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`, 'latin1'), framed])
  }
}

// encodeURIComponent throws on lone surrogates; replace them as a browser would.
function safe (s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
}

// What an HTTP client accepts in a path unencoded: printable ASCII but space and '#'.
function asciiOnly (s: string): string {
  return s.replace(/[^\x21-\x7e]|#/g, (c) => encodeURIComponent(safe(c)))
}
