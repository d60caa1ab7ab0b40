import type { FastifyInstance } from 'fastify'
import { ApiError } from '../api/errors.js'
import { parseUserId } from '../api/params.js'
import { deletedSchema, SIGN_OUT_DOC } from '../api/schemas.js'
import { endpoint } from './endpoint.js'

/** /del_user?id=[&except=|&except_id=] — ends every session of a user, but the one named. */
export default async function delUserRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ id: string, except?: string, except_id?: string }>(app, {
    url: '/del_user',
    query: { id: 'user_id', except: 'except', except_id: 'session_id' },
    required: ['id'],
    data: deletedSchema,
    example: { deleted: 3 },
    errors: ['invalid_user_id'],
    summary: 'Sign a user out everywhere',
    description: 'Ends every session of a user, except the one whose token is `except` or whose id is `except_id` ' +
      '(at most one of the two: "sign out my other devices"). ' + SIGN_OUT_DOC,
    handler: async (request) => {
      const { id, except, except_id: exceptId } = request.query
      const userId = parseUserId(id)
      if (except !== undefined && exceptId !== undefined) throw new ApiError('bad_request', 'Send except or except_id, not both')
      return await app.store.deleteUser(userId, { token: except, id: exceptId })
    }
  })
}
