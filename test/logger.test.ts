import { describe, expect, it } from 'vitest'
import { redactUrl } from '../src/logger.js'

describe('redactUrl', () => {
  it('hides tokens in query strings', () => {
    expect(redactUrl('/get?token=61494096-9af7-49ba-9fb4-e89c0811e6d3&ip=1.2.3.4'))
      .toBe('/get?token=[redacted]&ip=1.2.3.4')
    expect(redactUrl('/del?a=1&TOKEN=abc')).toBe('/del?a=1&TOKEN=[redacted]')
    expect(redactUrl('/user?id=1')).toBe('/user?id=1')
    expect(redactUrl('/get?%74oken=abc&tok%65n=def&ip=%3A%3A1')).toBe('/get?%74oken=[redacted]&tok%65n=[redacted]&ip=%3A%3A1')
    expect(redactUrl('/get?token&bad=%E0%A4%A')).toBe('/get?token=[redacted]&bad=%E0%A4%A')
    // Without %: every token, in any case, and nothing that only looks like one.
    expect(redactUrl('/get?token=a&Token=b&token=&xtoken=c&token+=d&tokens=e&a=token=f'))
      .toBe('/get?token=[redacted]&Token=[redacted]&token=[redacted]&xtoken=c&token+=d&tokens=e&a=token=f')
    expect(redactUrl('/get?ip=1.2.3.4&token=61494096-9af7-49ba-9fb4-e89c0811e6d3')).toBe('/get?ip=1.2.3.4&token=[redacted]')
    expect(redactUrl('/get')).toBe('/get')
  })
})
