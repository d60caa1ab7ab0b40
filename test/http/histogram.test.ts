// Our histogram for per-request series prints exactly what prom-client's own would.
import { Counter, Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { FastHistogram } from '../../src/http/histogram.js'

describe('FastHistogram', () => {
  it('exposes the same text as prom-client for the same observations, with its count as a counter', async () => {
    const buckets = [0.0005, 0.001, 0.5]
    const labelNames = ['method', 'route'] as const
    const theirs = new Registry()
    const ours = new Registry()
    const histogram = new Histogram({ name: 'x_seconds', help: 'time', labelNames, buckets, registers: [theirs] })
    const counter = new Counter({ name: 'x_total', help: 'count', labelNames, registers: [theirs] })
    const fast = new FastHistogram('x_seconds', 'time', labelNames, buckets, ours)
    fast.registerCount('x_total', 'count', ours)
    expect(await ours.metrics()).toBe(await theirs.metrics())

    // On a bound, past the last one, and a label value that needs escaping.
    for (const [method, route, seconds] of [['GET', '/a', 0.0001], ['GET', '/a', 0.7], ['POST', '/b"\\\n', 0.001],
      ['GET', '/a', 0.0005], ['GET', '/c', 0]] as const) {
      histogram.observe({ method, route }, seconds)
      counter.inc({ method, route })
      fast.observe([method, route], seconds)
    }
    const text = await ours.metrics()
    expect(text).toBe(await theirs.metrics())
    expect(text).toContain('x_seconds_bucket{le="0.0005",method="GET",route="/a"} 2')
    expect(text).toContain('x_total{method="GET",route="/a"} 3')

    fast.reset()
    expect(await ours.metrics()).not.toContain('x_seconds_count')
  })
})
