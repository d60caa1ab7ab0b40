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

/** Sessions in a page of the crowded user's list (its first page, every time). */
export const USER_PAGE = 100

/** The workloads of the table, in the order they run (userPage after the others, on the crowded user: see dataset.ts). */
export const WORKLOADS: Record<string, Workload> = {
  get: { name: '/get', requests: generate((p) => `/get?token=${tokenOf(randomIn(p))}`) },
  user: { name: '/user', requests: generate((p) => `/user?id=${randomUser(p.total)}`) },
  ip: { name: '/ip', requests: generate((p) => `/ip?ip=${ipOf(randomIn(p), p.total)}`) },
  new: { name: '/new', requests: generate(newPath) },
  mixed: {
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
  userPage: { name: `/user page of ${USER_PAGE}`, requests: generate(() => `/user?id=${CROWD_USER}&limit=${USER_PAGE}`) }
}
