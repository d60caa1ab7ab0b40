// The containers' healthcheck (tarantool/healthcheck.lua) against a real Tarantool: healthy when
// the instance serves as the service user, else exit 1 with why. Members of a replica set:
// test/cluster/replication.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { missing } from '../support/programs.js'
import { freePort, healthcheck, startTarantool, TARANTOOL_BIN, type TestTarantool } from '../support/tarantool.js'

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('the container healthcheck', () => {
  let tarantool: TestTarantool
  beforeAll(async () => { tarantool = await startTarantool() })
  afterAll(async () => { await tarantool?.stop() })

  it('passes on a single instance that serves', () => {
    expect(healthcheck(tarantool.port, tarantool.password)).toEqual({ code: 0, output: '' })
  })

  it('fails, saying why, with a wrong password or with nothing listening', async () => {
    const wrong = healthcheck(tarantool.port, 'not-the-password')
    expect(wrong.code).toBe(1)
    expect(wrong.output).toMatch(/^unhealthy: /)
    const none = healthcheck(await freePort(), tarantool.password)
    expect(none.code).toBe(1)
    expect(none.output).toMatch(/^unhealthy: no connection/)
  })
})
