import { isIPv4, isIPv6 } from 'node:net'
import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import ipaddr from 'ipaddr.js'
import sessionsApp, { serverOptions, VERSION } from './app.js'
import { DEFAULT_PASSWORD, loadConfig, parseTarantoolUri, redactConfig, type Config } from './config.js'
import { startEmbeddedTarantool, type EmbeddedTarantool } from './embedded/tarantool.js'
import { loggerOptions } from './http/logger.js'

// How long in-flight requests get to finish after SIGTERM/SIGINT.
const SHUTDOWN_GRACE_MS = 10_000

function readConfig (): Config {
  try {
    return loadConfig(process.env, { dotenv: true })
  } catch (err) {
    console.error((err as Error).message)
    process.exit(1)
  }
}

/** Whether HOST keeps the service to this machine: a loopback address, or localhost. */
function loopbackOnly (host: string): boolean {
  const address = host.replace(/^\[(.*)\]$/, '$1')
  if (address === 'localhost') return true
  if (isIPv4(address)) return address.startsWith('127.')
  if (!isIPv6(address)) return false
  const parsed = ipaddr.IPv6.parse(address)
  return parsed.range() === 'loopback' || (parsed.isIPv4MappedAddress() && parsed.toIPv4Address().range() === 'loopback')
}

/**
 * The warning for a session API anyone who reaches it may use: no API_KEY, and HOST beyond
 * loopback. The service warns and serves, unlike Redis' protected mode, which refuses: inside a
 * container it listens on 0.0.0.0 and cannot tell whether the host publishes its port on the
 * network or on 127.0.0.1 only (dc.sample.yml, the seed's quick start with no key).
 */
function openDoorWarning (config: Config): string | undefined {
  if (config.API_KEY !== undefined || loopbackOnly(config.HOST)) return undefined
  const lists = config.TOKEN_STORAGE === 'plain'
    ? 'list the sessions of any user or address (/user, /ip) WITH THEIR LIVE TOKENS (TOKEN_STORAGE=plain), and so act as anyone'
    : 'list the sessions of any user or address (/user, /ip) and end them by id'
  return `NO API_KEY, AND THE SESSION API LISTENS BEYOND LOOPBACK (HOST=${config.HOST}, port ${config.PORT}): anyone who can reach it can ` +
    `${lists}, sign any user out (/del_user, /del_ip) and create sessions. Set API_KEY (16 or more characters; callers send ` +
    '"Authorization: Bearer <API_KEY>"), or listen on 127.0.0.1 only. Expected only where the port is published on loopback alone ' +
    '(a container behind "127.0.0.1:80:8080", as dc.sample.yml does).'
}

/** Starts the service: the embedded Tarantool unless TARANTOOL_URI is set, then the HTTP server. */
async function main (): Promise<void> {
  const config = readConfig()
  const app = Fastify({ logger: loggerOptions(config), ...serverOptions(config) })

  let embedded: EmbeddedTarantool | undefined
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS, logger: app.log }, async ({ err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    await app.close()
    await embedded?.stop()
  })

  let tarantoolUri = config.TARANTOOL_URI
  if (tarantoolUri === undefined) {
    embedded = await startEmbeddedTarantool({
      bin: config.TARANTOOL_BIN,
      dataDir: config.DATA_DIR,
      searchPath: config.PATH,
      memtxMemory: config.TARANTOOL_MEMTX_MEMORY,
      log: app.log
    })
    tarantoolUri = embedded.uri
  }

  try {
    await app.register(sessionsApp, { config, tarantoolUri })
    await app.listen({ port: config.PORT, host: config.HOST })
  } catch (err) {
    await embedded?.stop()
    throw err
  }
  const tarantoolVersion = await app.store.stats().then((stats) => stats.version, () => 'unreachable')
  app.log.info({ version: VERSION, tarantool: tarantoolVersion, embedded: embedded !== undefined, config: redactConfig(config) }, 'sessions started')
  const openDoor = openDoorWarning(config)
  if (openDoor !== undefined) app.log.warn(openDoor)
  if (config.TARANTOOL_URI !== undefined && parseTarantoolUri(config.TARANTOOL_URI).password === DEFAULT_PASSWORD) {
    app.log.warn(`THE TARANTOOL PASSWORD IS THE COMPOSE FILE'S DEFAULT '${DEFAULT_PASSWORD}': anyone who can reach Tarantool's port can read and end every session. ` +
      'Set TARANTOOL_PASSWORD (docker-compose) or the password in TARANTOOL_URI to a secret of your own.')
  }
}

main().catch((err: Error) => {
  console.error(`sessions: could not start: ${err.message}`)
  process.exit(1)
})
