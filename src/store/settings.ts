import { callProcedure, PROC } from './procedures.js'
import type { Tarantool } from './tarantool.js'
import type { StoreSettings, StoreStats } from './types.js'

/** Tarantool refused the service's settings: it cannot serve with them. */
export class SettingsRefusedError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'SettingsRefusedError'
  }
}

/** Where a failed push is reported: a pino logger will do. */
export interface ErrorLog {
  error: (obj: object, msg: string) => void
}

const RETRY_MS = 1000

/**
 * This service's settings, applied in Tarantool (persisted there for its expiry fiber) and kept so:
 * pushed on every connection, the first included (the instance may be new, or may have restarted
 * with older settings); pushed again every second after a failure (a timeout, an error) while
 * connected; and compared with what Tarantool reports, for /ready. Settings Tarantool refuses
 * (TOKEN_STORAGE=plain on hashed tokens) are not pushed again: start-up stops on them.
 */
export class SettingsPush {
  readonly #client: Tarantool
  readonly #settings: StoreSettings
  readonly #log: ErrorLog
  // Why the last push failed; undefined when it did not.
  #error: Error | undefined
  #first: Promise<void> | undefined
  #retry: NodeJS.Timeout | undefined

  constructor (client: Tarantool, settings: StoreSettings, log: ErrorLog) {
    this.#client = client
    this.#settings = settings
    this.#log = log
    client.on('connect', () => {
      const pushed = this.#push()
      this.#first ??= pushed
    })
  }

  /**
   * The first push, which start-up waits for: undefined until the first connection; it rejects
   * with a SettingsRefusedError when Tarantool cannot take the settings.
   */
  get first (): Promise<void> | undefined {
    return this.#first
  }

  /**
   * Why Tarantool does not hold this service's settings, from its stats: the last push failed, or
   * another service (or an older one) pushed others since. Undefined when it holds them.
   */
  problem (stats: StoreStats): string | undefined {
    if (this.#error !== undefined) return `this service's settings could not be applied in Tarantool: ${this.#error.message}`
    const want = this.#settings
    const differ: string[] = []
    if (stats.ttl !== want.ttlSeconds) differ.push(`ttl ${stats.ttl} against SESSION_TTL_SECONDS=${want.ttlSeconds}`)
    if (stats.sweep_interval !== want.sweepIntervalSeconds) differ.push(`sweep interval ${stats.sweep_interval} against SWEEP_INTERVAL_SECONDS=${want.sweepIntervalSeconds}`)
    if (stats.token_storage !== undefined && stats.token_storage !== want.tokenStorage) differ.push(`token storage ${stats.token_storage} against TOKEN_STORAGE=${want.tokenStorage}`)
    if (stats.events_retention !== undefined && want.eventsRetentionSeconds !== undefined && stats.events_retention !== want.eventsRetentionSeconds) {
      differ.push(`events retention ${stats.events_retention} against EVENTS_RETENTION_SECONDS=${want.eventsRetentionSeconds}`)
    }
    if (differ.length === 0) return undefined
    return `Tarantool's settings are not this service's (another service with other settings shares it?): ${differ.join(', ')}`
  }

  /** Pushes no more (the app closes). */
  stop (): void {
    clearTimeout(this.#retry)
  }

  #push (): Promise<void> {
    clearTimeout(this.#retry)
    const pushed = this.#configure()
    pushed.catch((err: Error) => {
      if (err instanceof SettingsRefusedError) return
      this.#log.error({ err }, 'could not apply settings in Tarantool, trying again in 1 s')
      if (this.#client.state === 'connected') this.#retry = setTimeout(() => { void this.#push() }, RETRY_MS).unref()
    })
    return pushed
  }

  async #configure (): Promise<void> {
    const settings = this.#settings
    let failure: { message?: string } | undefined
    try {
      [, failure] = await callProcedure(this.#client, PROC.configure, [{
        ttl: settings.ttlSeconds,
        sweep_interval: settings.sweepIntervalSeconds,
        token_storage: settings.tokenStorage,
        ...(settings.eventsRetentionSeconds === undefined ? {} : { events_retention: settings.eventsRetentionSeconds })
      }]) as [unknown, { message?: string } | undefined]
    } catch (err) {
      this.#error = err as Error
      throw err
    }
    if (failure != null) {
      this.#error = new SettingsRefusedError(failure.message ?? 'Tarantool refused the settings')
      throw this.#error
    }
    this.#error = undefined
  }
}
