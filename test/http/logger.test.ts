import { Writable } from 'node:stream'
import pino from 'pino'
import { describe, expect, it, vi } from 'vitest'
import { lazyChildLogger, redactUrl } from '../../src/http/logger.js'

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

  it('hides except, the token /del_user keeps, as it hides token', () => {
    expect(redactUrl('/del_user?id=1&except=61494096-9af7-49ba-9fb4-e89c0811e6d3')).toBe('/del_user?id=1&except=[redacted]')
    expect(redactUrl('/del_user?id=1&EXCEPT=x&%65xcept=y')).toBe('/del_user?id=1&EXCEPT=[redacted]&%65xcept=[redacted]')
    expect(redactUrl('/del_user?id=1&except_id=AAAAAAAAAAAAAAAAAAAAAA')).toBe('/del_user?id=1&except_id=AAAAAAAAAAAAAAAAAAAAAA')
  })

  it('hides anything shaped like a token anywhere in the URL, with or without dashes, encoded or not', () => {
    const token = '61494096-9af7-49ba-9fb4-e89c0811e6d3'
    const bare = token.replace(/-/g, '')
    expect(redactUrl(`/get?tokn=${token}`)).toBe('/get?tokn=[redacted]')
    expect(redactUrl(`/get?t=${bare.toUpperCase()}&ip=1.2.3.4`)).toBe('/get?t=[redacted]&ip=1.2.3.4')
    expect(redactUrl(`/get/${token}`)).toBe('/get/[redacted]')
    expect(redactUrl(`/get/${token}?ip=%3A%3A1`)).toBe('/get/[redacted]?ip=%3A%3A1')
    expect(redactUrl(`/get?t=${encodeURIComponent(token).replace(/-/g, '%2D')}&ip=%3A%3A1`)).toBe('/get?t=[redacted]&ip=%3A%3A1')
    expect(redactUrl(`/x/${token.replace(/-/g, '%2d')}`)).toBe('/x/[redacted]')
    // A session id or a cursor is not shaped like a token, and stays.
    expect(redactUrl('/del?id=Yx3kP0q9vVw2Lr8sT1uZ0A')).toBe('/del?id=Yx3kP0q9vVw2Lr8sT1uZ0A')
  })
})

describe('lazyChildLogger', () => {
  function parent (): { logger: pino.Logger, lines: Array<Record<string, unknown>> } {
    const lines: Array<Record<string, unknown>> = []
    const stream = new Writable({
      write (chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
        done()
      }
    })
    return { logger: pino({ level: 'info' }, stream), lines }
  }

  it('makes the child logger only when the request logs, with its bindings', async () => {
    const { logger, lines } = parent()
    const child = vi.spyOn(logger, 'child')
    const log = lazyChildLogger(logger, { reqId: 'r-1' }, {})
    expect(child).not.toHaveBeenCalled()
    log.info({ a: 1 }, 'first')
    log.warn('second %s', 'line')
    log.debug('not at info')
    expect(child).toHaveBeenCalledTimes(1)
    await new Promise((resolve) => setImmediate(resolve))
    expect(lines).toEqual([
      expect.objectContaining({ reqId: 'r-1', a: 1, msg: 'first', level: 30 }),
      expect.objectContaining({ reqId: 'r-1', msg: 'second line', level: 40 })
    ])
  })

  it('behaves as pino\'s child: level, options, children of its own', async () => {
    const { logger, lines } = parent()
    const log = lazyChildLogger(logger, { reqId: 'r-2' }, { level: 'warn' })
    expect(log.level).toBe('warn')
    log.info('dropped at warn')
    log.level = 'debug'
    log.debug('kept at debug')
    log.child({ part: 'x' }).error('from a child')
    await new Promise((resolve) => setImmediate(resolve))
    expect(lines).toEqual([
      expect.objectContaining({ reqId: 'r-2', msg: 'kept at debug' }),
      expect.objectContaining({ reqId: 'r-2', part: 'x', msg: 'from a child' })
    ])
  })
})
