// The peer users would pick instead: a Fastify + Redis session script of the size people write
// (ioredis, one round trip per request), on Debian's redis-server (processes.ts, startRedis: an
// append-only file, not fsynced). /get reads the session JSON by its token, sets its activity and
// its expiry (180 days) and stores it back, atomically in one Lua script; /new stores a new
// session under a random uuid token for 180 days and adds the token to its user's set, both in one
// Lua script too. Answers
// as the service: {status:'success', data:{...session...}}. REDIS_PORT names the Redis.
import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { ipOf, tokenOf, userOf } from './dataset.js'
import type { Population } from './workloads.js'

export const TTL_SECONDS = 180 * 86_400
export const sessionKey = (token: string): string => `session:${token}`
export const userKey = (userId: number): string => `user:${userId}`

/** A session as the service answers it. */
export interface Session {
  token: string
  user_id: number
  ip: string
  extra: unknown
  create: number
  activity: number
  id: string
  expires: number
}

/** A new session; its `id`, an id apart from the token, as the service answers one (a uuid: cheap). */
export function newSession (token: string, userId: number, ip: string, now: number): Session {
  return { token, user_id: userId, ip, extra: null, create: now, activity: now, id: randomUUID(), expires: now + TTL_SECONDS }
}

// GET, set the activity and the expiry, SET back with its TTL; nil for no session.
const TOUCH = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
local s = cjson.decode(v)
s.activity = tonumber(ARGV[1])
s.expires = s.activity + tonumber(ARGV[2])
v = cjson.encode(s)
redis.call('SET', KEYS[1], v, 'EX', ARGV[2])
return v
`

// SET the session with its TTL, SADD its token to its user's set: one command, atomic. (ioredis's
// pipeline of the same two commands cost Node about 40 µs more a /new here: REDIS_NEW=pipeline,
// npm run bench -- --redis-new pipeline, measures that script instead.)
const PIPELINE = process.env.REDIS_NEW === 'pipeline'
const STORE = `
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
`

/** The client, with the scripts defined as commands of their own. */
type Client = Redis & {
  touchSession: (key: string, now: number, ttl: number) => Promise<string | null>
  storeSession: (key: string, userKey: string, json: string, ttl: number, token: string) => Promise<number>
}

const PRELOAD_BATCH = 5000

/**
 * Stores the bench's sessions `from` to `to - 1` in the Redis at `port` as the script stores them
 * (tokens, users and ips as dataset.ts's preload makes them in Tarantool, so the same requests
 * find them), last used a day ago; pipelined in batches.
 */
export async function preloadRedis (port: number, p: Population): Promise<void> {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true })
  await redis.connect()
  try {
    const now = Math.floor(Date.now() / 1000) - 86_400
    for (let first = p.from; first < p.to; first += PRELOAD_BATCH) {
      const batch = redis.pipeline()
      for (let i = first; i < Math.min(first + PRELOAD_BATCH, p.to); i++) {
        const session = newSession(tokenOf(i), userOf(i, p.total), ipOf(i, p.total), now)
        batch.set(sessionKey(session.token), JSON.stringify(session), 'EX', TTL_SECONDS).sadd(userKey(session.user_id), session.token)
      }
      const results = await batch.exec()
      const failed = results?.find(([err]) => err !== null)
      if (failed !== undefined) throw failed[0]!
    }
  } finally {
    redis.disconnect()
  }
}

async function main (): Promise<void> {
  const redis = new Redis({ host: '127.0.0.1', port: Number(process.env.REDIS_PORT) }) as Client
  redis.defineCommand('touchSession', { numberOfKeys: 1, lua: TOUCH })
  redis.defineCommand('storeSession', { numberOfKeys: 2, lua: STORE })
  const app = Fastify()
  app.get('/get', async (request, reply) => {
    const { token } = request.query as { token?: string }
    const json = token === undefined ? null : await redis.touchSession(sessionKey(token), Math.floor(Date.now() / 1000), TTL_SECONDS)
    if (json === null) return await reply.code(404).send({ status: 'error', message: 'no such session' })
    return { status: 'success', data: JSON.parse(json) as Session }
  })
  app.get('/new', async (request, reply) => {
    const { user_id: userId, ip } = request.query as { user_id?: string, ip?: string }
    if (userId === undefined || ip === undefined) return await reply.code(400).send({ status: 'error', message: 'user_id and ip are required' })
    const session = newSession(randomUUID(), Number(userId), ip, Math.floor(Date.now() / 1000))
    if (PIPELINE) {
      const results = await redis.pipeline().set(sessionKey(session.token), JSON.stringify(session), 'EX', TTL_SECONDS).sadd(userKey(session.user_id), session.token).exec()
      const failed = results?.find(([err]) => err !== null)
      if (failed !== undefined) throw failed[0]!
    } else {
      await redis.storeSession(sessionKey(session.token), userKey(session.user_id), JSON.stringify(session), TTL_SECONDS, session.token)
    }
    return { status: 'success', data: session }
  })
  await app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' })
  process.once('SIGTERM', () => { app.close().then(() => { redis.disconnect(); process.exit(0) }, () => process.exit(1)) })
}

if (process.env.REDIS_PORT !== undefined && process.argv[1]?.endsWith('redis-peer.ts') === true) await main()
