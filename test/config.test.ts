import { describe, expect, it } from 'vitest'
import { loadConfig, parseTarantoolUri, redactConfig } from '../src/config.js'

describe('loadConfig', () => {
  it('has defaults for everything', () => {
    expect(loadConfig({})).toEqual({
      PORT: 8080,
      HOST: '127.0.0.1',
      REQUEST_TIMEOUT_MS: 10000,
      KEEP_ALIVE_TIMEOUT_MS: 5000,
      MAX_CONNECTIONS: 10000,
      TARANTOOL_TIMEOUT_MS: 1000,
      TARANTOOL_MAX_IN_FLIGHT: 10000,
      TARANTOOL_BIN: 'tarantool',
      SESSION_TTL_SECONDS: 180 * 24 * 3600,
      MAX_LIFETIME_SECONDS: 0,
      MAX_SESSIONS_PER_USER: 0,
      SESSION_LIMIT_POLICY: 'evict_oldest',
      SWEEP_INTERVAL_SECONDS: 60,
      EVENTS_RETENTION_SECONDS: 900,
      EXTRA_MAX_BYTES: 8192,
      LIST_LIMIT: 1000,
      TOKEN_STORAGE: 'plain',
      DATA_DIR: './data',
      LOG_LEVEL: 'info',
      ACCESS_LOG: 'errors',
      SLOW_REQUEST_MS: 100,
      PATH: ''
    })
  })

  it('reads and converts the environment', () => {
    const config = loadConfig({ PORT: '9000', TARANTOOL_URI: 'svc:p@ss:w@db.local:3301', SESSION_TTL_SECONDS: '60', LOG_LEVEL: 'debug' })
    expect(config).toMatchObject({ PORT: 9000, TARANTOOL_URI: 'svc:p@ss:w@db.local:3301', SESSION_TTL_SECONDS: 60, LOG_LEVEL: 'debug' })
  })

  // A bad value for every setting (PATH takes any string), with the message that names it.
  const INVALID: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'eighty' }, /PORT must be integer/],
    // Only decimal digits: Number() would read these as 80, 80, 1000 and 80.
    [{ PORT: ' 80' }, /PORT must be integer/],
    [{ PORT: '0x50' }, /PORT must be integer/],
    [{ SESSION_TTL_SECONDS: '1e3' }, /SESSION_TTL_SECONDS must be integer/],
    [{ LIST_LIMIT: '80.0' }, /LIST_LIMIT must be integer/],
    [{ PORT: '70000' }, /PORT must be <= 65535/],
    [{ HOST: '' }, /HOST must NOT have fewer than 1 characters/],
    [{ REQUEST_TIMEOUT_MS: '99' }, /REQUEST_TIMEOUT_MS must be >= 100/],
    [{ REQUEST_TIMEOUT_MS: '600001' }, /REQUEST_TIMEOUT_MS must be <= 600000/],
    [{ KEEP_ALIVE_TIMEOUT_MS: '99' }, /KEEP_ALIVE_TIMEOUT_MS must be >= 100/],
    [{ KEEP_ALIVE_TIMEOUT_MS: '600001' }, /KEEP_ALIVE_TIMEOUT_MS must be <= 600000/],
    [{ KEEP_ALIVE_TIMEOUT_MS: '5s' }, /KEEP_ALIVE_TIMEOUT_MS must be integer/],
    [{ MAX_CONNECTIONS: '0' }, /MAX_CONNECTIONS must be >= 1/],
    [{ MAX_CONNECTIONS: '1000001' }, /MAX_CONNECTIONS must be <= 1000000/],
    [{ TARANTOOL_URI: 'localhost:3301' }, /TARANTOOL_URI must look like user:password@host:port/],
    [{ TARANTOOL_URI: 'u:p@host:70000' }, /port from 1 to 65535/],
    [{ TARANTOOL_URI: 'u:p@host:0' }, /port from 1 to 65535/],
    [{ TARANTOOL_TIMEOUT_MS: '0' }, /TARANTOOL_TIMEOUT_MS must be >= 1/],
    [{ TARANTOOL_MAX_IN_FLIGHT: '0' }, /TARANTOOL_MAX_IN_FLIGHT must be >= 1/],
    [{ TARANTOOL_MAX_IN_FLIGHT: 'many' }, /TARANTOOL_MAX_IN_FLIGHT must be integer/],
    [{ TARANTOOL_BIN: '' }, /TARANTOOL_BIN must NOT have fewer than 1 characters/],
    [{ SESSION_TTL_SECONDS: '0' }, /SESSION_TTL_SECONDS must be >= 1/],
    [{ SESSION_TTL_SECONDS: '4294967296' }, /SESSION_TTL_SECONDS must be <= 4294967295/],
    [{ MAX_LIFETIME_SECONDS: '-1' }, /MAX_LIFETIME_SECONDS must be >= 0/],
    [{ MAX_LIFETIME_SECONDS: '315360001' }, /MAX_LIFETIME_SECONDS must be <= 315360000/],
    [{ MAX_SESSIONS_PER_USER: '-1' }, /MAX_SESSIONS_PER_USER must be >= 0/],
    [{ MAX_SESSIONS_PER_USER: '1001' }, /MAX_SESSIONS_PER_USER must be <= 1000/],
    [{ SESSION_LIMIT_POLICY: 'drop' }, /SESSION_LIMIT_POLICY must be equal to one of the allowed values/],
    [{ SWEEP_INTERVAL_SECONDS: '0' }, /SWEEP_INTERVAL_SECONDS must be >= 1/],
    [{ SWEEP_INTERVAL_SECONDS: '86401' }, /SWEEP_INTERVAL_SECONDS must be <= 86400/],
    [{ EVENTS_RETENTION_SECONDS: '0' }, /EVENTS_RETENTION_SECONDS must be >= 1/],
    [{ EXTRA_MAX_BYTES: '1.5' }, /EXTRA_MAX_BYTES must be integer/],
    [{ EXTRA_MAX_BYTES: '15' }, /EXTRA_MAX_BYTES must be >= 16/],
    [{ LIST_LIMIT: '0' }, /LIST_LIMIT must be >= 1/],
    [{ LIST_LIMIT: '1001' }, /LIST_LIMIT must be <= 1000/],
    [{ TOKEN_STORAGE: 'sha256' }, /TOKEN_STORAGE must be equal to one of the allowed values/],
    [{ DATA_DIR: '' }, /DATA_DIR must NOT have fewer than 1 characters/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be equal to one of the allowed values/],
    [{ ACCESS_LOG: 'some' }, /ACCESS_LOG must be equal to one of the allowed values/],
    [{ SLOW_REQUEST_MS: '-1' }, /SLOW_REQUEST_MS must be >= 0/],
    [{ API_KEY: 'short' }, /API_KEY must NOT have fewer than 16 characters/],
    [{ API_KEY: 'has a space in the middle' }, /API_KEY must be printable ASCII without spaces or #/]
  ]

  it.each(INVALID)('rejects %j with a message that names it', (env, message) => {
    expect(() => loadConfig(env)).toThrow(/^Invalid configuration: /)
    expect(() => loadConfig(env)).toThrow(message)
  })

  it('has a bad value above for every setting but PATH', () => {
    const settings = [...Object.keys(loadConfig({})), 'TARANTOOL_URI', 'API_KEY'].filter((key) => key !== 'PATH')
    const tried = new Set(INVALID.flatMap(([env]) => Object.keys(env)))
    expect(settings.filter((key) => !tried.has(key))).toEqual([])
  })

  it('names every invalid setting at once', () => {
    expect(() => loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud' })).toThrow(/PORT must be integer.*LOG_LEVEL must be equal/)
  })
})

describe('parseTarantoolUri', () => {
  it('splits user, password, host and port', () => {
    expect(parseTarantoolUri('sessions:secret@tarantool:3301')).toEqual({ user: 'sessions', password: 'secret', host: 'tarantool', port: 3301, members: [{ host: 'tarantool', port: 3301 }] })
  })

  it('allows : and @ in the password and brackets around IPv6 hosts', () => {
    expect(parseTarantoolUri('u:a:b@c@[::1]:3301')).toEqual({ user: 'u', password: 'a:b@c', host: '::1', port: 3301, members: [{ host: '::1', port: 3301 }] })
  })

  it('takes the password as written, % and all', () => {
    expect(parseTarantoolUri('u:p%41ss%zz@h:1').password).toBe('p%41ss%zz')
  })

  it('takes the members of a replica set, credentials once', () => {
    expect(parseTarantoolUri('u:p@a:3301,[::1]:3302,c:3303')).toEqual({
      user: 'u',
      password: 'p',
      host: 'a',
      port: 3301,
      members: [{ host: 'a', port: 3301 }, { host: '::1', port: 3302 }, { host: 'c', port: 3303 }]
    })
    expect(loadConfig({ TARANTOOL_URI: 'u:p@a:3301,b:3302' }).TARANTOOL_URI).toBe('u:p@a:3301,b:3302')
    expect(redactConfig(loadConfig({ TARANTOOL_URI: 'u:p@a:3301,b:3302' })).TARANTOOL_URI).toBe('u:[redacted]@a:3301,b:3302')
  })

  it('takes a unix socket in the notation of Tarantool, as the embedded instance is reached', () => {
    expect(parseTarantoolUri('u:p@unix/:/run/tarantool/t.sock')).toEqual({
      user: 'u',
      password: 'p',
      host: 'unix/',
      port: 0,
      path: '/run/tarantool/t.sock',
      members: [{ host: 'unix/', port: 0, path: '/run/tarantool/t.sock' }]
    })
    const config = loadConfig({ TARANTOOL_URI: 'u:p@unix/:/run/t.sock' })
    expect(redactConfig(config).TARANTOOL_URI).toBe('u:[redacted]@unix/:/run/t.sock')
    expect(() => loadConfig({ TARANTOOL_URI: 'u:p@unix/:run/t.sock' })).toThrow(/TARANTOOL_URI must look like/)
    expect(() => parseTarantoolUri('u:p@unix/:run/t.sock')).toThrow(/absolute path/)
  })

  it.each(['u:p@a:3301,', 'u:p@a:3301,b', 'u:p@a:3301,b:0', 'u:p@a:3301,a:3301', 'u:p@a:3301,:3302'])('refuses %s', (uri) => {
    expect(() => loadConfig({ TARANTOOL_URI: uri })).toThrow(/TARANTOOL_URI/)
  })
})
