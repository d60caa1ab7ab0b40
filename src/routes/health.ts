import type { FastifyInstance } from 'fastify'
import { ApiError } from '../api/errors.js'
import { responsesOf, success } from '../api/schemas.js'

const startedAt = Date.now()

const healthSchema = {
  type: 'object',
  properties: { uptime_seconds: { type: 'integer', description: 'Seconds since the process started' } },
  required: ['uptime_seconds']
} as const

const readySchema = {
  type: 'object',
  properties: {
    tarantool_version: { type: 'string' },
    sessions: { type: 'integer', description: 'Sessions stored, expired ones not yet swept included' },
    leader: { type: 'string', description: 'With a replica set: the writable member the calls go to' },
    members: {
      type: 'array',
      description: 'With a replica set: every member as the service last saw it',
      items: {
        type: 'object',
        properties: {
          address: { type: 'string' },
          connection: { type: 'string', description: 'connecting, connected, disconnected, auth_failed or closed' },
          ro: { type: 'boolean', description: 'Whether it reports itself read-only' },
          status: { type: 'string', description: 'box.info.status: running, orphan, loading...' },
          leader: { type: 'boolean' },
          lag: { type: 'number', description: 'The largest replication lag it reports, in seconds' }
        },
        required: ['address', 'connection', 'leader']
      }
    }
  },
  required: ['tarantool_version', 'sessions']
} as const

/**
 * Probes: /health says the process serves HTTP (liveness); /ready says Tarantool answered a call
 * within TARANTOOL_TIMEOUT_MS, takes writes, and holds this service's settings (readiness).
 */
export default async function healthRoutes (app: FastifyInstance): Promise<void> {
  app.get('/health', {
    schema: {
      tags: ['probes'],
      summary: 'Liveness: the process is up',
      response: responsesOf(healthSchema, ['internal_error'], { bare: true })
    }
  }, async () => success({ uptime_seconds: Math.floor((Date.now() - startedAt) / 1000) }))

  app.get('/ready', {
    schema: {
      tags: ['probes'],
      summary: 'Readiness: Tarantool answers, takes writes and holds this service\'s settings',
      response: responsesOf(readySchema, ['internal_error', 'storage_unavailable'], { bare: true })
    }
  }, async () => {
    const stats = await app.store.stats()
    if (stats.ro) throw new ApiError('storage_unavailable', 'Tarantool is read-only')
    const problem = app.tarantoolSettings.problem(stats)
    if (problem !== undefined) throw new ApiError('storage_unavailable', problem)
    const members = app.tarantool.members()
    // A single instance, a set of one, is the Tarantool that just answered: nothing more to name.
    if (members.length === 1) return success({ tarantool_version: stats.version, sessions: stats.sessions })
    return success({
      tarantool_version: stats.version,
      sessions: stats.sessions,
      leader: app.tarantool.leader,
      members: members.map(({ reportAgeMs: _age, ...m }) => m)
    })
  })
}
