// Where the samples of a V8 CPU profile (`node --cpu-prof`) went, by what they were doing: HTTP,
// validation, serialization, our Tarantool client, MessagePack, logging... (npm run bench:profile)

/** A node of a .cpuprofile: one function at one place in the call tree. */
export interface ProfileNode { id: number, callFrame: { functionName: string, url: string }, children?: number[] }
/** A .cpuprofile: the call tree, and for each sample the node it hit and the time since the last. */
export interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

export const IDLE = 'idle'
const HTTP = 'node http (parser, sockets)'
const CLIENT = 'our client and store'
// V8 samples by the clock: when a write wakes one of Tarantool's threads and it takes the core,
// Node's wait for the core goes to that write (perf, which counts CPU, puts the write itself at a
// few percent).
const TARANTOOL_SOCKET = 'writes to Tarantool\'s socket (and the wait for the core after them)'

// First match wins: a frame's file (or function) decides where its self time goes.
const CATEGORIES: Array<[string, RegExp]> = [
  ['logging (pino)', /pino|sonic-boom|thread-stream|src\/http\/logger/],
  ['MessagePack decoding (msgpackr; the driver, at login)', /msgpackr|msgpack-lite|tarantool-driver|int64-buffer|event-lite/],
  [CLIENT, /dist\/store\//],
  ['validation (ajv)', /ajv|fast-uri|validation\.js|src\/api\/params/],
  ['serialization (fast-json-stringify)', /fast-json-stringify|serializ/],
  ['fastify routing, hooks, reply', /fastify|find-my-way|avvio|light-my-request|dist\/(routes|plugins|app|api\/(extra|schemas)|http\/request-id)/],
  [HTTP, /node:_http|node:http|node:net|node:stream|node:internal\/streams|_http_/],
  ['garbage collection', /^\(garbage collector\)$/],
  // Native code with no JS on the stack: libuv's loop between callbacks, its polling's work.
  ['event loop (native code, no JS frame)', /^\(program\)$/],
  // Waiting in the event loop's poll, as Node marks it.
  [IDLE, /^\(idle\)$/]
]

function own (node: ProfileNode): string | undefined {
  const where = node.callFrame.url || node.callFrame.functionName
  for (const [name, pattern] of CATEGORIES) if (pattern.test(where) || pattern.test(node.callFrame.functionName)) return name
  return undefined
}

/**
 * The category of each node of `profile`, by id. Native and internal frames (a socket write, a
 * Buffer) count for the nearest caller that has one: a writeString under pino is logging. Node's
 * socket code counts for HTTP, unless our client called it: then it writes calls to Tarantool.
 */
export function categorizer (profile: Profile): (id: number) => string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parents = new Map<number, ProfileNode>()
  for (const n of profile.nodes) for (const child of n.children ?? []) parents.set(child, n)
  return (id) => {
    let first: string | undefined
    for (let at = byId.get(id); at !== undefined; at = parents.get(at.id)) {
      const category = own(at)
      if (category === undefined) continue
      first ??= category
      if (first !== HTTP) return first
      if (category !== HTTP) return category === CLIENT ? TARANTOOL_SOCKET : HTTP
    }
    return first ?? 'other node internals'
  }
}

/** The profile's time (µs) by category. */
export function timeByCategory (profile: Profile, categoryOf = categorizer(profile)): Map<string, number> {
  const time = new Map<string, number>()
  profile.samples.forEach((id, i) => {
    const category = categoryOf(id)
    time.set(category, (time.get(category) ?? 0) + profile.timeDeltas[i])
  })
  return time
}
