import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { parseTarantoolUri } from '../config.js'
import { ReplicaSetClient } from '../store/replica-set-client.js'
import { SessionsStore } from '../store/sessions-store.js'
import { SettingsPush, SettingsRefusedError } from '../store/settings.js'
import { TarantoolClient } from '../store/tarantool-client.js'
import type { Tarantool } from '../store/tarantool.js'
import type { StorePolicy, StoreSettings } from '../store/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    store: SessionsStore
    /** The connection under the store, for its state and events (metrics); not for calls. */
    tarantool: Tarantool
    /** This service's settings, kept applied in Tarantool; /ready asks it whether Tarantool holds them. */
    tarantoolSettings: SettingsPush
  }
}

export interface TarantoolPluginOptions {
  uri: string
  timeoutMs: number
  /** The most calls waiting on Tarantool at once (TARANTOOL_MAX_IN_FLIGHT). */
  maxInFlight: number
  /** How long start-up waits for the first connection before serving 503s until it comes. */
  connectWaitMs: number
  settings: StoreSettings
  policy: StorePolicy
}

/**
 * Connects to Tarantool, keeps this service's settings applied there (store/settings.ts) and
 * decorates the app with a typed `store`. Start-up fails at once on bad credentials or on settings
 * Tarantool refuses; an unreachable Tarantool is waited for briefly, then reconnected in the
 * background.
 */
async function tarantool (app: FastifyInstance, opts: TarantoolPluginOptions): Promise<void> {
  const target = parseTarantoolUri(opts.uri)
  // Several members: a replica set, whose writable member takes the calls.
  const client: Tarantool = target.members.length > 1
    ? new ReplicaSetClient({ ...target, timeoutMs: opts.timeoutMs, maxInFlight: opts.maxInFlight })
    : new TarantoolClient({ ...target, timeoutMs: opts.timeoutMs, maxInFlight: opts.maxInFlight })
  const store = new SessionsStore(client, opts.policy)
  const log = app.log.child({ component: 'tarantool' })

  client.on('connect', () => log.info('connected to Tarantool'))
  const settings = new SettingsPush(client, opts.settings, log)
  app.addHook('onClose', async () => settings.stop())
  client.on('disconnect', (err: Error) => log.warn({ err }, 'lost the connection to Tarantool, reconnecting'))
  // Which member of a replica set takes the calls (a single instance's connection says it all).
  if (client.members().length > 1) {
    client.on('leader', (address: string | undefined) => {
      if (address !== undefined) log.info({ leader: address }, `the writable Tarantool member is ${address}`)
      else log.warn({ members: client.members() }, 'no Tarantool member is writable; waiting for one')
    })
    client.on('split', (addresses: string[]) => log.error({ members: addresses }, 'more than one Tarantool member is writable: calls wait until one steps down'))
  }
  client.on('auth_failed', (err: Error) => log.error({ err }, 'Tarantool rejected the credentials'))
  // A member starting (a new replica set bootstraps, a restarted one loads its data) refuses logins
  // for a while: expected, and tried again. Once a member, until it has taken a connection.
  client.on('loading', (err: Error, address?: string) => {
    log.info({ ...(address !== undefined ? { member: address } : {}), reason: err.message }, 'Tarantool is still starting; connecting again until it is ready')
  })

  app.decorate('store', store)
  app.decorate('tarantool', client)
  app.decorate('tarantoolSettings', settings)
  app.addHook('onClose', async () => client.close())

  try {
    await client.waitConnected(opts.connectWaitMs)
    // Settings Tarantool refuses stop start-up.
    await settings.first
  } catch (err) {
    if (err instanceof SettingsRefusedError) {
      client.close()
      throw new Error(`Tarantool refused the settings: ${err.message}`)
    }
    if (client.state === 'auth_failed') {
      client.close()
      throw err
    }
    log.warn({ err }, 'Tarantool is not reachable yet; answering 503 until it is')
  }
}

export default fp(tarantool, { name: 'tarantool', fastify: '5.x' })
