// Response schemas: the seed's envelope around its SessionObject. Declared for every route so that
// responses are serialized fast and documented.

export const sessionSchema = {
  type: 'object',
  description: 'SessionObject',
  properties: {
    ip: { type: 'string', description: 'Current IP address of the user (canonical form)' },
    extra: { type: ['object', 'null'], additionalProperties: true, description: 'Extra data' },
    user_id: { type: 'integer' },
    create: { type: 'integer', description: 'Creation time, Unix seconds' },
    activity: { type: 'integer', description: 'Last use by /get, Unix seconds' },
    token: { type: 'string', description: 'Session token (UUID v4)' }
  },
  required: ['ip', 'extra', 'user_id', 'create', 'activity', 'token']
} as const

export const sessionListSchema = { type: 'array', items: sessionSchema } as const

export const errorSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['error'] },
    code: { type: 'string' },
    message: { type: 'string' }
  },
  required: ['status', 'code', 'message']
} as const

/** The responses of a route whose success data has this schema. */
export function responsesOf (data: object): Record<string, object> {
  return {
    200: {
      type: 'object',
      properties: { status: { type: 'string', enum: ['success'] }, data },
      required: ['status', 'data']
    },
    '4xx': errorSchema,
    '5xx': errorSchema
  }
}

/** The success envelope. */
export function success<T> (data: T): { status: 'success', data: T } {
  return { status: 'success', data }
}
