// Least privilege on the Tarantool side: the service user may execute the registered procedures
// and nothing else; guest may do nothing.
import TarantoolConnection from 'tarantool-driver'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { parseTarantoolUri } from '../../src/config.js'

const target = parseTarantoolUri(inject('tarantoolUri'))
const connections: TarantoolConnection[] = []
afterAll(() => { for (const c of connections) c.disconnect() })

async function connect (user?: string, password?: string): Promise<TarantoolConnection> {
  const conn = new TarantoolConnection({
    host: target.host, port: target.port, username: user, password, lazyConnect: true, retryStrategy: () => null
  })
  conn.on('error', () => {})
  connections.push(conn)
  await conn.connect()
  return conn
}

describe('Tarantool access', () => {
  it('lets the service user call the procedures', async () => {
    const conn = await connect(target.user, target.password)
    expect(await conn.ping()).toBe(true)
    expect(await (conn as unknown as { call: (name: string) => Promise<unknown> }).call('sessions.stats')).toBeTruthy()
  })

  it('does not let the service user eval code, read spaces or call anything else', async () => {
    const conn = await connect(target.user, target.password) as unknown as {
      eval: (code: string) => Promise<unknown>
      call: (name: string, ...args: unknown[]) => Promise<unknown>
      select: (space: number, index: number, limit: number, offset: number, iterator: string, key: unknown[]) => Promise<unknown>
    }
    await expect(conn.eval('return box.space.sessions:len()')).rejects.toThrow(/denied/i)
    await expect(conn.call('box.schema.user.grant', 'sessions', 'read', 'universe')).rejects.toThrow(/denied/i)
    await expect(conn.call('dostring', 'return 1')).rejects.toThrow(/denied/i)
    // Built-ins granted to every user through the 'public' role: LUA runs any code as admin.
    await expect(conn.call('LUA', 'return os.getenv("TARANTOOL_USER_PASSWORD")')).rejects.toThrow(/denied/i)
    await expect(conn.call('box.schema.user.info')).rejects.toThrow(/denied/i)
    // 512 is the first user space: sessions.
    await expect(conn.select(512, 0, 1, 0, 'all', [])).rejects.toThrow(/denied/i)
  })

  it('gives guest nothing', async () => {
    const conn = await connect() as unknown as { call: (name: string) => Promise<unknown>, eval: (code: string) => Promise<unknown> }
    await expect(conn.call('sessions.stats')).rejects.toThrow(/denied/i)
    await expect(conn.eval('return 1')).rejects.toThrow(/denied/i)
  })
})
