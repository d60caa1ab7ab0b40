import { readFileSync } from 'node:fs'
import { parseEnv } from 'node:util'
import envSchema from 'env-schema'
import type { AccessLogMode } from './http/access-log.js'

/** Effective configuration of the service; the only place that reads the environment. */
export interface Config {
  PORT: number
  HOST: string
  /** Longest time a client may take to send a whole request; a connection that sends nothing is closed after it. */
  REQUEST_TIMEOUT_MS: number
  /** How long a kept-alive connection may stay idle between requests. */
  KEEP_ALIVE_TIMEOUT_MS: number
  /** The most HTTP connections open at once; past it, new ones are closed as they come. */
  MAX_CONNECTIONS: number
  /** `user:password@host:port` (or `@unix/:/path`); unset: run an embedded Tarantool. */
  TARANTOOL_URI?: string
  TARANTOOL_TIMEOUT_MS: number
  /** The most calls waiting on Tarantool at once; past it, requests answer 503 without a call. */
  TARANTOOL_MAX_IN_FLIGHT: number
  TARANTOOL_BIN: string
  /** Bytes of memory for the embedded Tarantool's data (sessions, their events); unset: init.lua's 256 MB. */
  TARANTOOL_MEMTX_MEMORY?: number
  SESSION_TTL_SECONDS: number
  /** Default lifetime of a session from its creation, however used; 0: none. */
  MAX_LIFETIME_SECONDS: number
  /** The most live sessions a user may have; 0: no limit. */
  MAX_SESSIONS_PER_USER: number
  /** At the limit, /new ends the user's least recently used session, or is refused. */
  SESSION_LIMIT_POLICY: 'evict_oldest' | 'deny'
  SWEEP_INTERVAL_SECONDS: number
  EVENTS_RETENTION_SECONDS: number
  EXTRA_MAX_BYTES: number
  /** The most sessions a list answers when the request gives no `limit`. */
  LIST_LIMIT: number
  /** 'hashed': Tarantool keeps only a one-way hash of each token. */
  TOKEN_STORAGE: 'plain' | 'hashed'
  DATA_DIR: string
  LOG_LEVEL: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Which requests get an access line (at `info`): all, errors and slow ones, or none. */
  ACCESS_LOG: AccessLogMode
  /** With ACCESS_LOG=errors, a success answered this late or later gets its line too. */
  SLOW_REQUEST_MS: number
  /** Where TARANTOOL_BIN is looked up when it is a bare name. */
  PATH: string
  /** When set, callers must send `Authorization: Bearer <API_KEY>`. */
  API_KEY?: string
}

/** Where and as whom to reach Tarantool, parsed from TARANTOOL_URI. */
export interface TarantoolTarget extends TarantoolAddress {
  user: string
  password: string
}

/** One member's address: a host and port, or a unix socket (`path`; host `unix/`, port 0). */
export interface TarantoolAddress {
  host: string
  port: number
  path?: string
}

const schema = {
  type: 'object',
  properties: {
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    REQUEST_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 600000, default: 10000 },
    // Node's default; a load balancer that keeps connections to the service should close them sooner.
    KEEP_ALIVE_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 600000, default: 5000 },
    // Each takes a file descriptor and some memory; the process's own limit (ulimit -n) may be lower.
    MAX_CONNECTIONS: { type: 'integer', minimum: 1, maximum: 1000000, default: 10000 },
    TARANTOOL_URI: { type: 'string', pattern: '^[^:@/]+:.*@([^@/]+:[0-9]{1,5}|unix/:/[^@,]+)$' },
    TARANTOOL_TIMEOUT_MS: { type: 'integer', minimum: 1, maximum: 600000, default: 1000 },
    TARANTOOL_MAX_IN_FLIGHT: { type: 'integer', minimum: 1, maximum: 1000000, default: 10000 },
    TARANTOOL_BIN: { type: 'string', minLength: 1, default: 'tarantool' },
    // The embedded Tarantool's; one of TARANTOOL_URI's reads it from its own environment.
    TARANTOOL_MEMTX_MEMORY: { type: 'integer', minimum: 33554432, maximum: 1099511627776 },
    SESSION_TTL_SECONDS: { type: 'integer', minimum: 1, maximum: 4294967295, default: 180 * 24 * 3600 },
    MAX_LIFETIME_SECONDS: { type: 'integer', minimum: 0, maximum: 315360000, default: 0 },
    // /new counts a user's live sessions in its transaction, Tarantool serving nothing else
    // meanwhile: measured at the limit, 3 ms for 1000, 20 ms for 5000, 60 ms for 10000 (README).
    MAX_SESSIONS_PER_USER: { type: 'integer', minimum: 0, maximum: 1000, default: 0 },
    SESSION_LIMIT_POLICY: { type: 'string', enum: ['evict_oldest', 'deny'], default: 'evict_oldest' },
    SWEEP_INTERVAL_SECONDS: { type: 'integer', minimum: 1, maximum: 86400, default: 60 },
    // How long GET /events can resume from an event: a client away longer gets `reset`.
    EVENTS_RETENTION_SECONDS: { type: 'integer', minimum: 1, maximum: 604800, default: 900 },
    EXTRA_MAX_BYTES: { type: 'integer', minimum: 16, maximum: 1048576, default: 8192 },
    LIST_LIMIT: { type: 'integer', minimum: 1, maximum: 1000, default: 1000 },
    TOKEN_STORAGE: { type: 'string', enum: ['plain', 'hashed'], default: 'plain' },
    DATA_DIR: { type: 'string', minLength: 1, default: './data' },
    LOG_LEVEL: {
      type: 'string',
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info'
    },
    ACCESS_LOG: { type: 'string', enum: ['all', 'errors', 'off'], default: 'errors' },
    SLOW_REQUEST_MS: { type: 'integer', minimum: 0, maximum: 600000, default: 100 },
    PATH: { type: 'string', default: '' },
    // Long enough to resist guessing; printable ASCII so it fits in a header as written, without
    // '#', which starts a comment in .env.
    API_KEY: { type: 'string', minLength: 16, pattern: '^[!"$-~]+$' }
  }
} as const

/** The Tarantool password docker-compose.yml falls back to: fine to try the service, never to run it. */
export const DEFAULT_PASSWORD = 'change-me'

const URI_HINT = 'TARANTOOL_URI must look like user:password@host:port (or user:password@host1:port1,host2:port2,... for a replica set, or user:password@unix/:/path/to/socket)'
// Tarantool's own notation of a unix socket in a URI.
const UNIX = 'unix/:'
const API_KEY_HINT = 'API_KEY must be printable ASCII without spaces or #'

const OPTIONAL = new Set(['TARANTOOL_URI', 'API_KEY'])

// Settings whose values never appear in logs.
const SECRETS = ['API_KEY'] as const

/** The configuration as it may be logged: secrets and the Tarantool password hidden. */
export function redactConfig (config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config }
  for (const key of SECRETS) if (out[key] !== undefined) out[key] = '[redacted]'
  if (config.TARANTOOL_URI !== undefined) {
    const { user, members } = parseTarantoolUri(config.TARANTOOL_URI)
    out.TARANTOOL_URI = `${user}:[redacted]@${members.map(memberAddress).join(',')}`
  }
  delete out.PATH
  return out
}

// Dropped from each source before they are merged: an empty API_KEY in the environment must not
// hide the one in .env.
function withoutEmptyOptionals (source: Record<string, string | undefined>): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(source).filter(([key, value]) => !(OPTIONAL.has(key) && value === '')))
}

function readDotenv (): Record<string, string> {
  try {
    return parseEnv(readFileSync('.env', 'utf8')) as Record<string, string>
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw err
  }
}

const INTEGERS = Object.entries(schema.properties).flatMap(([key, p]) => (p.type === 'integer' ? [key] : []))

// ajv reads a number with Number(): ' 80', '0x50', '1e3' and '80.0' would pass as 80, 80, 1000
// and 80. A whole number is written in decimal digits (a sign allowed, for its range's message);
// any other value is handed on as one that is no number, so that it gets ajv's message with the rest.
function decimalOnly (data: Record<string, string | undefined>): Record<string, string | undefined> {
  const out = { ...data }
  for (const key of INTEGERS) {
    const value = out[key]
    if (value !== undefined && !/^[-+]?\d+$/.test(value)) out[key] = `not a number: ${value}`
  }
  return out
}

/** Validates the environment (and `.env` when `dotenv` is set) into a Config, or throws a readable error. */
export function loadConfig (env: Record<string, string | undefined> = process.env, opts: { dotenv?: boolean } = {}): Config {
  let config: Config
  try {
    // The environment wins over `.env`. An optional setting given empty (`API_KEY=` in compose
    // or .env) is unset.
    const data = { ...withoutEmptyOptionals(opts.dotenv === true ? readDotenv() : {}), ...withoutEmptyOptionals(env) }
    config = envSchema<Config>({ schema, data: decimalOnly(data), env: false })
  } catch (err) {
    const message = (err as Error).message
      .replace(/env\/TARANTOOL_URI must match pattern "[^"]*"/, URI_HINT)
      .replace(/env\/API_KEY must match pattern "[^"]*"/, API_KEY_HINT)
    throw new Error(`Invalid configuration: ${message}`)
  }
  if (config.TARANTOOL_URI !== undefined) {
    try {
      parseTarantoolUri(config.TARANTOOL_URI)
    } catch (err) {
      throw new Error(`Invalid configuration: ${(err as Error).message}`)
    }
  }
  return config
}

/** One member's address, `host:port` ([host] for IPv6) or `unix/:/path`, for logs and labels. */
export function memberAddress ({ host, port, path }: TarantoolAddress): string {
  if (path !== undefined) return `${UNIX}${path}`
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}

/**
 * Splits TARANTOOL_URI into its parts: `user:password@host:port`, or for a replica set
 * `user:password@host1:port1,host2:port2,...` (credentials once). The password is taken as written
 * (no %-decoding): all between the first ':' and the last '@', so it may contain both. `host` and
 * `port` are the first member's; `members` all of them.
 */
export function parseTarantoolUri (uri: string): TarantoolTarget & { members: TarantoolAddress[] } {
  const at = uri.lastIndexOf('@')
  const userColon = uri.indexOf(':')
  if (at < 0 || userColon < 1 || userColon > at) throw new Error(URI_HINT)
  const members = uri.slice(at + 1).split(',').map((member): TarantoolAddress => {
    if (member.startsWith(UNIX)) {
      const path = member.slice(UNIX.length)
      if (!path.startsWith('/')) throw new Error(`${URI_HINT}: a unix socket by its absolute path`)
      return { host: 'unix/', port: 0, path }
    }
    const portColon = member.lastIndexOf(':')
    if (portColon < 0) throw new Error(URI_HINT)
    const port = Number(member.slice(portColon + 1))
    if (!/^[0-9]{1,5}$/.test(member.slice(portColon + 1)) || port < 1 || port > 65535) {
      throw new Error(`${URI_HINT}, with a port from 1 to 65535`)
    }
    const host = member.slice(0, portColon).replace(/^\[(.*)\]$/, '$1')
    if (host === '') throw new Error(URI_HINT)
    return { host, port }
  })
  const addresses = members.map(memberAddress)
  if (new Set(addresses).size !== addresses.length) throw new Error('TARANTOOL_URI names a member twice')
  return { user: uri.slice(0, userColon), password: uri.slice(userColon + 1, at), ...members[0], members }
}
