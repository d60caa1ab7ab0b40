// The parts of tarantool-driver (CommonJS, untyped) that src/store/connection.ts relies on.
declare module 'tarantool-driver' {
  import { EventEmitter } from 'node:events'
  import type { Socket } from 'node:net'

  interface Options {
    host?: string
    port?: number
    /** A unix socket, in place of host and port. */
    path?: string
    username?: string
    password?: string
    timeout?: number
    lazyConnect?: boolean
    enableOfflineQueue?: boolean
    retryStrategy?: (times: number) => number | null
  }

  class TarantoolConnection extends EventEmitter {
    constructor (options: Options)
    state: number
    states: Record<'CONNECTING' | 'CONNECTED' | 'AUTH' | 'CONNECT' | 'RECONNECTING' | 'END', number>
    socket?: Socket
    connect (): Promise<void>
    ping (): Promise<boolean>
    disconnect (): void
    /** Reads one answer, whose header starts at `offset` (the driver's; src/store/connection.ts wraps it). */
    _processResponse (buffer: Buffer, offset?: number, ...rest: unknown[]): void
  }

  export default TarantoolConnection
}

declare module 'tarantool-driver/lib/msgpack-extensions.js' {
  export const codec: unknown
}
