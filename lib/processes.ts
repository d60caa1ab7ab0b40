// The processes that scripts, the bench and the tests start beside the service, on free loopback ports.
import { createServer } from 'node:net'

/** A free TCP port on the loopback interface. */
export function freePort (): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolvePort(port))
    })
  })
}
