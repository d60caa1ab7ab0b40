// Memory per session with TOKEN_STORAGE=hashed, on a service of its own.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { connectConsole, type AdminConsole } from '../lib/admin-console.js'
import { startService } from '../lib/processes.js'
import { CONSOLE_SOCKET_NAME } from '../src/embedded/tarantool.js'
import { memory, preload, tokenOf, type MemoryStats } from './dataset.js'
import { DAY, settings } from './options.js'
import { step } from './report.js'

/**
 * Memory per session with TOKEN_STORAGE=hashed: a service of its own (data in `dir/hashed`), with
 * `total` sessions stored under their tokens' hashes as it stores them; checks that it finds one
 * by its token and that its key is no token.
 */
export async function hashedMemory (dir: string, total: number): Promise<MemoryStats> {
  const own = join(dir, 'hashed')
  mkdirSync(own, { recursive: true })
  step(`hashed: a service with TOKEN_STORAGE=hashed (data in ${own}), ${total} sessions under their tokens' hashes`)
  const service = await startService(own, { ...settings.service, tokenStorage: 'hashed' })
  let admin: AdminConsole | undefined
  try {
    admin = await connectConsole(join(own, 'data', CONSOLE_SOCKET_NAME))
    await preload(admin, { from: 0, to: total, total, ageSeconds: DAY, hashed: true })
    const mem = await memory(admin)
    const plainKeys = await admin.eval<number>(`
      local keys, n = require('sessions.keys'), 0
      for _, t in box.space.sessions:pairs() do
        if keys.is_token(t[1]) then n = n + 1 end
        if n > 0 then break end
      end
      return n`)
    const found = await fetch(`${service.url}/get?token=${tokenOf(0)}`)
    if (plainKeys !== 0 || !found.ok) throw new Error(`hashed: ${plainKeys} plain keys; /get of session 0: HTTP ${found.status}`)
    return mem
  } finally {
    admin?.close()
    await service.stop()
  }
}
