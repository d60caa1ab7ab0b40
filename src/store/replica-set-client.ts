import { EventEmitter } from 'node:events'
import { memberAddress } from '../config.js'
import { TarantoolClient } from './tarantool-client.js'
import type { CallOptions, ConnectionState, MemberState, Tarantool } from './tarantool.js'
import { ER, StorageUnavailableError } from './tarantool-errors.js'

/** How often each member is asked for its role: a change of leader is seen within about this. */
const POLL_MS = 250
/** Between two tries of one call: a member that refused may be asked again before its report changes. */
const RETRY_PAUSE_MS = 20
/** Refusals that say "not the leader": the call was not applied, and the leader is elsewhere. */
const NOT_LEADER = new Set<number>([ER.READONLY, ER.LOADING, ER.BOOTSTRAP_READONLY, ER.UNCOMMITTED_FOREIGN_SYNC_TXNS,
  ER.QUORUM_WAIT, ER.SYNC_QUEUE_UNCLAIMED, ER.SYNC_QUEUE_FOREIGN])
/** A member that refused the credentials (one still bootstrapping has no users yet) is tried again after this. */
const AUTH_RETRY_MS = 5000

/** What a member says of itself (tarantool/sessions/member.lua, or sessions.stats on older Lua). */
export interface MemberReport {
  ro: boolean
  /** Whether it has taken up the leader's work (writes, the background fibers); absent from older Lua. */
  writable?: boolean
  status?: string
  uuid?: string
  id?: number
  version?: string
  election?: { state?: string, term?: number, leader?: number }
  /** Replication from and to the other members, as box.info.replication has it. */
  replication?: Array<{ id?: number, uuid?: string, upstream?: { status?: string, lag?: number }, downstream?: { status?: string, lag?: number } }>
}

interface Member {
  address: string
  client: TarantoolClient
  report?: MemberReport
  reportedAt?: number
  polling: boolean
  authRetry?: NodeJS.Timeout
}

export interface ReplicaSetOptions {
  user: string
  password: string
  members: Array<{ host: string, port: number }>
  timeoutMs: number
  maxInFlight?: number
}

/**
 * A replica set as one Tarantool: a TarantoolClient per member, each asked for its role every
 * POLL_MS (`sessions.member`), and every call sent to the writable member (the leader). There is
 * no consensus here: the members' own replication and elections decide who leads; this follows.
 * - A call made while no member is writable waits for one, until its deadline (timeoutMs), then
 *   fails as storage_unavailable.
 * - A call that a member refused without applying it (read-only, no leader for synchronous writes:
 *   tarantool-errors.ts) or that was never sent is sent again to the new leader within the deadline.
 * - A call whose outcome is unknown (a dropped connection, a quorum timeout) is sent again only when
 *   the caller says it is idempotent.
 * - Two members writable at once (a split brain, or a leader's last moments): calls go to the one
 *   with the higher election term, or wait, and it is reported as an error.
 * Polling rather than IPROTO watchers (2.10+): tarantool-driver has no watch request, and 2.6 none.
 *
 * Events as TarantoolClient's: 'connect' (a leader found, a new one included: the store pushes its
 * settings to it), 'disconnect' (no leader any more), 'auth_failed', 'loading' (Error, address),
 * 'call'; and 'leader' (address or undefined) on each change.
 */
export class ReplicaSetClient extends EventEmitter implements Tarantool {
  readonly #opts: ReplicaSetOptions
  readonly #members: Member[]
  #leader: Member | undefined
  #closed = false
  #poll: NodeJS.Timeout
  #lastError: Error | undefined

  constructor (opts: ReplicaSetOptions) {
    super()
    // Every call that waits for a leader listens for one (#nextLeader): during a failover there are
    // as many as calls in flight, not a leak, and Node's warning past 10 would only alarm.
    this.setMaxListeners(0)
    this.#opts = opts
    this.#members = opts.members.map((target) => this.#member(target))
    this.#poll = setInterval(() => { for (const m of this.#members) void this.#ask(m) }, POLL_MS)
    this.#poll.unref()
  }

  get state (): ConnectionState {
    if (this.#closed) return 'closed'
    if (this.#leader !== undefined) return 'connected'
    if (this.#members.every((m) => m.client.state === 'auth_failed')) return 'auth_failed'
    if (this.#members.some((m) => m.client.state === 'connected')) return 'disconnected'
    return 'connecting'
  }

  get lastError (): Error | undefined {
    return this.#lastError
  }

  /** The writable member's address, if there is one. */
  get leader (): string | undefined {
    return this.#leader?.address
  }

  /** Every member as last seen. */
  members (): MemberState[] {
    const now = Date.now()
    return this.#members.map((m) => {
      const lags = (m.report?.replication ?? []).map((r) => r.upstream?.lag).filter((lag): lag is number => typeof lag === 'number')
      return {
        address: m.address,
        connection: m.client.state,
        ro: m.report?.ro,
        status: m.report?.status,
        leader: m === this.#leader,
        lag: lags.length > 0 ? Math.max(...lags) : undefined,
        reportAgeMs: m.reportedAt === undefined ? undefined : now - m.reportedAt
      }
    })
  }

  uuid (value: string | Uint8Array): unknown {
    return this.#members[0].client.uuid(value)
  }

  async call (name: string, args: unknown[], opts: CallOptions = {}): Promise<unknown[]> {
    const deadline = Date.now() + this.#opts.timeoutMs
    for (;;) {
      const leader = this.#leader ?? await this.#nextLeader(deadline)
      if (leader === undefined) throw this.#noLeader()
      try {
        return await leader.client.call(name, args)
      } catch (err) {
        if (!(err instanceof StorageUnavailableError)) throw err
        // Refused as not the leader, or its connection went: not the leader for now.
        const notLeader = err.tarantoolCode !== undefined && NOT_LEADER.has(err.tarantoolCode)
        const lost = leader.client.state !== 'connected'
        if (notLeader || lost) this.#demote(leader, err)
        // Out of memory, or too many calls waiting, would be refused again: not sent again.
        const again = notLeader || (lost && (err.applied === 'no' || opts.idempotent === true))
        if (!again || this.#closed || Date.now() + RETRY_PAUSE_MS >= deadline) throw err
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS))
      }
    }
  }

  waitConnected (timeoutMs: number): Promise<void> {
    if (this.#leader !== undefined) return Promise.resolve()
    return this.#nextLeader(Date.now() + timeoutMs).then((leader) => {
      if (leader === undefined) throw this.#noLeader()
    })
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#poll)
    for (const m of this.#members) {
      clearTimeout(m.authRetry)
      m.client.close()
    }
    this.#setLeader(undefined)
    this.emit('closed')
  }

  #member (target: { host: string, port: number }): Member {
    const member: Member = { address: memberAddress(target), client: this.#client(target), polling: false }
    this.#watch(member, target)
    return member
  }

  #client (target: { host: string, port: number }): TarantoolClient {
    const { user, password, timeoutMs, maxInFlight } = this.#opts
    // A member still loading tells the set is starting: another that refuses the service user
    // meanwhile has bootstrapped, and not received the user yet.
    const starting = (): boolean => this.#members.some((m) => m.client.loading)
    return new TarantoolClient({ user, password, ...target, timeoutMs, maxInFlight, starting })
  }

  #watch (member: Member, target: { host: string, port: number }): void {
    const client = member.client
    client.on('connect', () => { void this.#ask(member) })
    client.on('disconnect', (err: Error) => this.#demote(member, err))
    client.on('call', (...args: unknown[]) => this.emit('call', ...args))
    // Still loading or bootstrapping: its client keeps trying by itself.
    client.on('loading', (err: Error) => {
      this.#lastError = err
      this.emit('loading', err, member.address)
    })
    client.on('auth_failed', (err: Error) => {
      this.#lastError = err
      this.#demote(member, err)
      this.emit('auth_failed', err)
      // A member still bootstrapping has not received the service user yet: try it again later.
      member.authRetry = setTimeout(() => {
        if (this.#closed) return
        client.removeAllListeners()
        member.client = this.#client(target)
        this.#watch(member, target)
      }, AUTH_RETRY_MS).unref()
    })
  }

  /** Asks a member for its role, unless a question is out already. */
  async #ask (member: Member): Promise<void> {
    if (member.polling || member.client.state !== 'connected' || this.#closed) return
    member.polling = true
    try {
      member.report = await this.#report(member)
      member.reportedAt = Date.now()
    } catch (err) {
      member.report = undefined
      this.#lastError = err as Error
    } finally {
      member.polling = false
    }
    this.#elect()
  }

  async #report (member: Member): Promise<MemberReport> {
    try {
      const [report] = await member.client.call('sessions.member', []) as [MemberReport]
      return report
    } catch (err) {
      // Lua older than the replica set (no such procedure, so no right to execute it): its stats
      // say whether it is read-only.
      const code = (err as { tarantoolCode?: number }).tarantoolCode
      if (code !== ER.NO_SUCH_PROC && code !== ER.ACCESS_DENIED) throw err
      const [stats] = await member.client.call('sessions.stats', []) as [{ ro: boolean, version?: string }]
      return { ro: stats.ro, version: stats.version }
    }
  }

  /** Chooses the leader from the members' last reports. */
  #elect (): void {
    // Read-write, and done taking over (on 2.6, the previous leader's queue settled first).
    const writable = this.#members.filter((m) => m.client.state === 'connected' && m.report?.ro === false && m.report.writable !== false)
    if (writable.length <= 1) {
      this.#setLeader(writable[0])
      return
    }
    const term = (m: Member): number => m.report?.election?.term ?? -1
    writable.sort((a, b) => term(b) - term(a))
    if (term(writable[0]) > term(writable[1])) {
      this.#setLeader(writable[0])
    } else {
      this.#lastError = new StorageUnavailableError(`more than one member is writable: ${writable.map((m) => m.address).join(', ')}`, 'no')
      this.emit('split', writable.map((m) => m.address))
      this.#setLeader(undefined)
    }
  }

  #demote (member: Member, err: Error): void {
    this.#lastError = err
    if (member.report !== undefined) member.report = { ...member.report, ro: true }
    if (this.#leader === member) this.#setLeader(undefined)
    void this.#ask(member)
  }

  #setLeader (member: Member | undefined): void {
    if (member === this.#leader) return
    const had = this.#leader !== undefined
    this.#leader = member
    this.emit('leader', member?.address)
    if (member !== undefined) this.emit('connect')
    else if (had) this.emit('disconnect', this.#lastError ?? new StorageUnavailableError('no writable member', 'no'))
  }

  /** Resolves with the leader once there is one, or undefined at the deadline. */
  #nextLeader (deadline: number): Promise<Member | undefined> {
    if (this.#leader !== undefined) return Promise.resolve(this.#leader)
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.off('leader', onLeader)
        this.off('closed', done)
        resolve(this.#leader)
      }
      const onLeader = (address: string | undefined): void => { if (address !== undefined) done() }
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()))
      this.on('leader', onLeader)
      this.on('closed', done)
      for (const m of this.#members) void this.#ask(m)
    })
  }

  #noLeader (): StorageUnavailableError {
    const reason = this.#lastError === undefined ? '' : `: ${this.#lastError.message}`
    return new StorageUnavailableError(`no writable Tarantool member among ${this.#members.length}${reason}`, 'no')
  }
}
