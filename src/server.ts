import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import sessionsApp, { serverOptions, VERSION } from './app.js'
import { DEFAULT_PASSWORD, loadConfig, parseTarantoolUri, redactConfig, type Config } from './config.js'
import { startEmbeddedTarantool, type EmbeddedTarantool } from './embedded-tarantool.js'
import { loggerOptions } from './logger.js'

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
  if (config.TARANTOOL_URI !== undefined && parseTarantoolUri(config.TARANTOOL_URI).password === DEFAULT_PASSWORD) {
    app.log.warn(`THE TARANTOOL PASSWORD IS THE COMPOSE FILE'S DEFAULT '${DEFAULT_PASSWORD}': anyone who can reach Tarantool's port can read and end every session. ` +
      'Set TARANTOOL_PASSWORD (docker-compose) or the password in TARANTOOL_URI to a secret of your own.')
  }
}

main().catch((err: Error) => {
  console.error(`sessions: could not start: ${err.message}`)
  process.exit(1)
})
