// The OpenAPI document made from the routes' schemas, and Swagger UI rendering it in a real
// headless Chromium with no network but loopback.
import { existsSync } from 'node:fs'
import SwaggerParser from '@apidevtools/swagger-parser'
import type { FastifyInstance } from 'fastify'
import type { OpenAPIV3 } from 'openapi-types'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERRORS } from '../../src/api/errors.js'
import { buildApp } from '../support/app.js'
import { missing } from '../support/programs.js'

const API = ['/new', '/get', '/del', '/user', '/ip', '/del_user', '/del_ip', '/rotate']
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

describe('API docs', () => {
  let app: FastifyInstance
  let base: string
  beforeAll(async () => {
    app = await buildApp()
    base = await app.listen({ port: 0, host: '127.0.0.1' })
  })
  afterAll(async () => { await app.close() })

  it('serves a valid OpenAPI 3 document with every endpoint, method and error code', async () => {
    const document = (await app.inject({ url: '/openapi.json' })).json<OpenAPIV3.Document>()
    await SwaggerParser.validate(structuredClone(document) as never)
    expect(document.openapi).toBe('3.0.3')
    expect(Object.keys(document.paths).sort()).toEqual([...API, '/events', '/health', '/ready'].sort())

    const codes = new Set<string>()
    for (const url of API) {
      for (const method of ['get', 'post'] as const) {
        const operation = document.paths[url]![method]!
        expect(operation.summary).toBeTruthy()
        // No API_KEY here: no security, as the service applies none.
        expect(operation.security).toEqual([])
        expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '500', '503']))
        for (const [status, response] of Object.entries(operation.responses)) {
          const schema = (response as OpenAPIV3.ResponseObject).content!['application/json'].schema as OpenAPIV3.SchemaObject
          const enumerated = (schema.properties?.code as OpenAPIV3.SchemaObject | undefined)?.enum as string[] | undefined
          for (const code of enumerated ?? []) {
            expect(ERRORS[code as keyof typeof ERRORS].status).toBe(Number(status))
            codes.add(code)
          }
        }
      }
    }
    // GET /events (no POST: it changes nothing), its page's parameters and its own error.
    expect(document.paths['/events']!.post).toBeUndefined()
    const events = document.paths['/events']!.get!
    expect((events.parameters as OpenAPIV3.ParameterObject[]).map((p) => p.name)).toEqual(['after', 'limit', 'user_id', 'last_event_id'])
    expect(events.description).toContain('text/event-stream')
    expect(JSON.stringify(events.responses['400'])).toContain('invalid_event_id')
    codes.add('invalid_event_id')
    // Every code but not_found, which is for paths that are no endpoint.
    expect([...codes].sort()).toEqual(Object.keys(ERRORS).filter((code) => code !== 'not_found').sort())

    // The envelope and the seed's examples.
    const success = (document.paths['/get']!.get!.responses['200'] as OpenAPIV3.ResponseObject).content!['application/json']
    expect(success.schema).toMatchObject({ properties: { status: { enum: ['success'] }, data: { required: ['ip', 'extra', 'user_id', 'create', 'activity'] } } })
    expect(JSON.stringify(success)).toContain('61494096-9af7-49ba-9fb4-e89c0811e6d3')
    expect(success.schema).toMatchObject({ properties: { data: { properties: { token: { type: 'string' }, id: { type: 'string' } } } } })
    // The lists' pages, and /del by id.
    const params = (url: string): string[] => (document.paths[url]!.get!.parameters as OpenAPIV3.ParameterObject[]).map((p) => p.name)
    expect(params('/user')).toEqual(['id', 'limit', 'after'])
    expect(params('/ip')).toEqual(['ip', 'limit', 'after'])
    expect(params('/del')).toEqual(['token', 'id'])
    for (const url of ['/user', '/ip']) {
      const page = (document.paths[url]!.get!.responses['200'] as OpenAPIV3.ResponseObject).content!['application/json'].schema
      expect(page).toMatchObject({ properties: { data: { type: 'array' }, next: { type: 'string', nullable: true } }, required: ['status', 'data', 'next'] })
    }
    // Extra data in the body, for POST (a GET's body has no place in OpenAPI, though it works).
    expect(Object.keys((document.paths['/new']!.post!.requestBody as OpenAPIV3.RequestBodyObject).content))
      .toEqual(['application/x-www-form-urlencoded', 'application/json'])
  })

  it('states the security the service applies: none without API_KEY, the key with it', async () => {
    const keyed = await buildApp({ env: { API_KEY: 'docs-test-key-0123456789' } })
    try {
      for (const [service, key] of [[app, undefined], [keyed, 'docs-test-key-0123456789']] as const) {
        const document = (await service.inject({ url: '/openapi.json' })).json<OpenAPIV3.Document>()
        await SwaggerParser.validate(structuredClone(document) as never)
        expect(document.components?.securitySchemes).toEqual(key === undefined ? undefined : { apiKey: expect.objectContaining({ type: 'http', scheme: 'bearer' }) })
        for (const url of API) {
          for (const method of ['get', 'post'] as const) {
            const operation = document.paths[url]![method]!
            const required = (operation.security ?? []).length > 0
            expect(required).toBe(key !== undefined)
            // What the document says a call without the key gets is what the service answers.
            const res = await service.inject({ method: method.toUpperCase() as 'GET' | 'POST', url })
            expect(res.statusCode === 401).toBe(required)
          }
        }
      }
    } finally {
      await keyed.close()
    }
  })

  it.skipIf(missing(`chromium (${CHROMIUM}; CHROMIUM_PATH to change)`, existsSync(CHROMIUM) ? CHROMIUM : undefined))('renders every endpoint in Swagger UI, offline', async () => {
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync']
    })
    try {
      const page = await browser.newPage()
      const offsite: string[] = []
      await page.route('**/*', async (route) => {
        const url = new URL(route.request().url())
        if (url.hostname === '127.0.0.1') return await route.continue()
        offsite.push(url.href)
        return await route.abort()
      })
      await page.goto(`${base}/docs`)
      await page.locator('.opblock-summary-path').first().waitFor({ timeout: 20_000 })
      const paths = await page.locator('.opblock-summary-path').allInnerTexts()
      expect(new Set(paths.map((path) => path.trim()))).toEqual(new Set([...API, '/events', '/health', '/ready']))
      await expect(page.locator('.info .title').innerText()).resolves.toMatch(/^sessions/)

      // Opening an operation shows its parameters and error codes.
      // Swagger UI renders the opened body after the click resolves: wait for it before reading.
      const operation = page.locator('#operations-sessions-get_new')
      await operation.locator('.opblock-summary').click()
      await operation.getByText('invalid_user_id').first().waitFor({ timeout: 10_000 })
      const details = await operation.innerText()
      expect(details).toContain('user_id')
      expect(details).toContain('invalid_user_id')
      expect(offsite).toEqual([])
    } finally {
      await browser.close()
    }
  })
})
