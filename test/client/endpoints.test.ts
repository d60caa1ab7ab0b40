// Drift between the API and the Node client: the client's table of endpoints (what each method
// sends) against the service's own OpenAPI document. A parameter, endpoint, reply field or error
// code added, renamed or removed on one side only fails here.
import type { OpenAPIV3 } from 'openapi-types'
import { beforeAll, describe, expect, it } from 'vitest'
import { API_ERROR_CODES, ENDPOINTS, SESSION_FIELDS, SessionsClient, type Endpoint } from '../../client/src/index.js'
import { buildApp } from '../support/app.js'

// Endpoints the client leaves out on purpose: the liveness probe is for orchestrators.
// /events: the client reads its stream for its cache (cache option), not through a method.
const NOT_IN_CLIENT = ['/health']
// The stream's query form of Last-Event-ID, for clients that cannot set headers: this one sets the header.
const STREAM_ONLY = ['last_event_id']
// Members of the client that call no endpoint of the table: the cache's.
const NOT_ENDPOINTS = ['caching', 'cacheStats', 'close']

let document: OpenAPIV3.Document
beforeAll(async () => {
  const app = await buildApp()
  document = (await app.inject({ url: '/openapi.json' })).json<OpenAPIV3.Document>()
  await app.close()
})

const table = Object.entries(ENDPOINTS) as Array<[string, Endpoint]>

function operation (path: string, method: 'get' | 'post'): OpenAPIV3.OperationObject | undefined {
  return document.paths[path]?.[method]
}

function queryParameters (op: OpenAPIV3.OperationObject): OpenAPIV3.ParameterObject[] {
  return ((op.parameters ?? []) as OpenAPIV3.ParameterObject[]).filter((p) => p.in === 'query')
}

function successSchema (op: OpenAPIV3.OperationObject): OpenAPIV3.SchemaObject {
  return (op.responses['200'] as OpenAPIV3.ResponseObject).content!['application/json'].schema as OpenAPIV3.SchemaObject
}

describe('the client and the API', () => {
  it('has a method for every endpoint but those left out, and every method\'s endpoint exists', () => {
    const paths = new Set(table.map(([, endpoint]) => endpoint.path))
    expect(Object.keys(document.paths).filter((path) => !NOT_IN_CLIENT.includes(path)).sort()).toEqual([...paths].sort())
    // Every method of the table is a method of the client, and the other way round.
    const methods = Object.getOwnPropertyNames(SessionsClient.prototype)
      .filter((name) => name !== 'constructor' && !name.startsWith('each') && !NOT_ENDPOINTS.includes(name))
    expect(methods.sort()).toEqual(table.map(([name]) => name).sort())
  })

  it.each(table)('%s sends documented parameters, the required ones included, with the HTTP method the endpoint answers', (_name, endpoint) => {
    const op = operation(endpoint.path, endpoint.method === 'GET' ? 'get' : 'post')
    expect(op, `${endpoint.method} ${endpoint.path}`).toBeDefined()
    const documented = queryParameters(op!)
    expect(endpoint.query.filter((name) => !documented.some((p) => p.name === name)), 'sent but not documented').toEqual([])
    expect(documented.filter((p) => p.required === true && !endpoint.query.includes(p.name)).map((p) => p.name), 'required but not sent').toEqual([])
    // A body goes as a POST, with JSON among the documented bodies.
    const post = operation(endpoint.path, 'post')
    if (endpoint.body) expect(Object.keys((post?.requestBody as OpenAPIV3.RequestBodyObject | undefined)?.content ?? {})).toContain('application/json')
    else expect(post?.requestBody).toBeUndefined()
  })

  it('can send every documented parameter of every endpoint (by one method or another)', () => {
    for (const path of Object.keys(document.paths).filter((p) => !NOT_IN_CLIENT.includes(p))) {
      const documented = queryParameters(operation(path, 'get')!).map((p) => p.name).filter((name) => !STREAM_ONLY.includes(name)).sort()
      const sent = new Set(table.filter(([, endpoint]) => endpoint.path === path).flatMap(([, endpoint]) => endpoint.query))
      expect([...sent].sort(), path).toEqual(documented)
    }
  })

  it.each(table)('%s reads the reply the endpoint documents', (_name, endpoint) => {
    const schema = successSchema(operation(endpoint.path, 'get') ?? operation(endpoint.path, 'post')!)
    const data = schema.properties!.data as OpenAPIV3.SchemaObject
    switch (endpoint.reply) {
      case 'page':
        expect(schema.required).toContain('next')
        expect(data.type).toBe('array')
        expect(Object.keys(((data as OpenAPIV3.ArraySchemaObject).items as OpenAPIV3.SchemaObject).properties!).sort()).toEqual([...SESSION_FIELDS].sort())
        break
      case 'session':
        expect(Object.keys(data.properties!).sort()).toEqual([...SESSION_FIELDS].sort())
        break
      case 'deleted':
        expect(data.required).toEqual(['deleted'])
        break
      case 'ready':
        expect(data.required).toEqual(['tarantool_version', 'sessions'])
        break
      case 'events':
        expect(schema.required).toContain('next')
        expect(data.type).toBe('array')
        expect(((data as OpenAPIV3.ArraySchemaObject).items as OpenAPIV3.SchemaObject).required).toEqual(['seq', 'type', 'time'])
        break
    }
    if (endpoint.reply !== 'page' && endpoint.reply !== 'events') expect(schema.properties!.next).toBeUndefined()
  })

  it('knows every error code the API documents', () => {
    // not_found is for paths that are no endpoint: no operation documents it.
    const codes = new Set(['not_found'])
    for (const item of Object.values(document.paths)) {
      for (const op of [item!.get, item!.post]) {
        for (const response of Object.values(op?.responses ?? {})) {
          const schema = (response as OpenAPIV3.ResponseObject).content?.['application/json'].schema as OpenAPIV3.SchemaObject | undefined
          for (const code of ((schema?.properties?.code as OpenAPIV3.SchemaObject | undefined)?.enum ?? []) as string[]) codes.add(code)
        }
      }
    }
    expect([...API_ERROR_CODES].sort()).toEqual([...codes].sort())
  })
})
