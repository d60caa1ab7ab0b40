import { describe, expect, it } from 'vitest'
import { redactUrl } from '../src/logger.js'

describe('redactUrl', () => {
  it('hides tokens in query strings', () => {
    expect(redactUrl('/get?token=61494096-9af7-49ba-9fb4-e89c0811e6d3&ip=1.2.3.4'))
      .toBe('/get?token=[redacted]&ip=1.2.3.4')
    expect(redactUrl('/del?a=1&TOKEN=abc')).toBe('/del?a=1&TOKEN=[redacted]')
    expect(redactUrl('/user?id=1')).toBe('/user?id=1')
  })
})
