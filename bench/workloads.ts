// The request mixes the bench drives, as autocannon request generators. Each names existing
// sessions by number (see dataset.ts), so no token travels from Tarantool to the bench. The
// reference gets the very same requests (its routes ignore the query), so both sides cost the load
// generator alike.
import type { Request } from 'autocannon'
import { CROWD_USER, ipOf, randomUser, tokenOf } from './dataset.js'

/** Sessions a workload may address: numbers `from` to `to - 1`, numbered among `total`. */
export interface Population {
  from: number
  to: number
  total: number
}

export interface Workload {
  /** Its key in WORKLOADS (wrk.ts makes the same requests by it). */
  key: string
  name: string
  /** A fresh request generator for one round. */
  requests: (population: Population) => Request[]
}

const randomIn = (p: Population): number => p.from + Math.floor(Math.random() * (p.to - p.from))
const newPath = (p: Population): string => `/new?user_id=${randomUser(p.total)}&ip=${ipOf(randomIn(p), p.total)}`

// Each request is made as it is sent. Lists made in advance (1,000 per connection) measured
// worse: the load generator spent about 10% more CPU per request, and the reference, which it
// drives faster, lost 15 to 20% of its rate to it.
const generate = (path: (p: Population) => string) => (p: Population): Request[] =>
  [{ method: 'GET', setupRequest: (req) => ({ ...req, path: path(p) }) }]

// A rotation's answer: the session with its new token.
const TOKEN = /"token":"([0-9a-f-]{36})"/

/**
 * Rotation chains: each connection takes a session never rotated (the next of `from` to `to - 1`,
 * across the rounds of this generator) and rotates it again and again, each time with the token
 * the one before answered, so that each request rotates a live session; after an answer that is
 * not a rotation (a timeout, an error), it takes the next session. On the reference, whose canned
 * answer always holds the same token, the very same requests and the same reading of the answer.
 *
 * Each connection keeps its token in `chain`: autocannon copies the requests (deeply) for each
 * connection, so each has a `chain` of its own, handed to setupRequest in the request, and from
 * there to onResponse in the connection's context (which autocannon clears each time the list of
 * requests comes round to its start: with one request, before each request is set up).
 */
function rotations (p: Population): Request[] {
  let next = p.from
  const claim = (): string => {
    if (next >= p.to) throw new Error(`rotation chains: no session left to start one (${p.to - p.from} taken)`)
    return tokenOf(next++)
  }
  interface Chain { token?: string }
  return [{
    method: 'GET',
    chain: {} satisfies Chain,
    setupRequest: (req, context) => {
      const chain = req.chain as Chain
      context.chain = chain
      chain.token ??= claim()
      return { ...req, path: `/rotate?token=${chain.token}` }
    },
    onResponse: (status, body, context) => {
      const chain = context.chain as Chain
      chain.token = status === 200 ? TOKEN.exec(body)?.[1] : undefined
    }
  }]
}

/** Sessions in a page of the crowded user's list (its first page, every time). */
export const USER_PAGE = 100

/**
 * The workloads of the table, in the order they run (rotate after mixed, on sessions no later row
 * names by their first token; userPage after the others, on the crowded user: see dataset.ts).
 */
export const WORKLOADS: Record<string, Workload> = {
  get: { key: 'get', name: '/get', requests: generate((p) => `/get?token=${tokenOf(randomIn(p))}`) },
  user: { key: 'user', name: '/user', requests: generate((p) => `/user?id=${randomUser(p.total)}`) },
  ip: { key: 'ip', name: '/ip', requests: generate((p) => `/ip?ip=${ipOf(randomIn(p), p.total)}`) },
  new: { key: 'new', name: '/new', requests: generate(newPath) },
  mixed: {
    key: 'mixed',
    name: 'mixed 90/8/2',
    requests: (p) => {
      // Deletes take sessions from the top down, and gets only those below: a get meets a deleted
      // session only when the delete of one it chose overtakes it.
      let next = p.to
      return [{
        method: 'GET',
        setupRequest: (req) => {
          const dice = Math.random()
          if (dice < 0.9) return { ...req, path: `/get?token=${tokenOf(randomIn({ ...p, to: next }))}` }
          if (dice < 0.98) return { ...req, path: newPath(p) }
          return { ...req, path: `/del?token=${tokenOf(--next)}` }
        }
      }]
    }
  },
  userPage: { key: 'userPage', name: `/user page of ${USER_PAGE}`, requests: generate(() => `/user?id=${CROWD_USER}&limit=${USER_PAGE}`) },
  rotate: { key: 'rotate', name: '/rotate', requests: rotations }
}
