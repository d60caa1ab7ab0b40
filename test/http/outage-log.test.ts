import { afterEach, describe, expect, it, vi } from 'vitest'
import { OutageLog } from '../../src/http/outage-log.js'

afterEach(() => { vi.useRealTimers() })

function recorder (): { lines: Array<{ obj: object, msg: string }>, log: { warn: (obj: object, msg: string) => void } } {
  const lines: Array<{ obj: object, msg: string }> = []
  return { lines, log: { warn: (obj, msg) => lines.push({ obj, msg }) } }
}

describe('OutageLog', () => {
  it('writes the first failure, then one line per window for the rest, then nothing once they stop', () => {
    vi.useFakeTimers()
    const { lines, log } = recorder()
    const outages = new OutageLog(log, 10_000)
    outages.failed('Tarantool is disconnected')
    for (let i = 0; i < 1000; i++) outages.failed('Tarantool is disconnected')
    expect(lines).toHaveLength(1)
    expect(lines[0].msg).toBe('request failed: storage_unavailable: Tarantool is disconnected')
    vi.advanceTimersByTime(10_000)
    expect(lines).toHaveLength(2)
    expect(lines[1]).toEqual({ obj: { requests: 1000, reason: 'Tarantool is disconnected' }, msg: '1000 more requests answered storage_unavailable in 10 s, the last: Tarantool is disconnected' })
    vi.advanceTimersByTime(60_000)
    expect(lines).toHaveLength(2)
    // A new outage: its first failure gets a line of its own.
    outages.failed('Tarantool is read-only: x')
    expect(lines).toHaveLength(3)
    expect(lines[2].msg).toBe('request failed: storage_unavailable: Tarantool is read-only: x')
  })

  it('writes what it counted on flush', () => {
    vi.useFakeTimers()
    const { lines, log } = recorder()
    const outages = new OutageLog(log, 10_000)
    outages.failed('a')
    outages.failed('b')
    outages.flush()
    expect(lines.map((l) => l.msg)).toEqual(['request failed: storage_unavailable: a', '1 more requests answered storage_unavailable in 10 s, the last: b'])
  })
})
