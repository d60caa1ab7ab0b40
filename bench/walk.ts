// A full walk of a list: its pages one request at a time, each after the `next` cursor of the one
// before, until `next` is null (or `maxPages`: the reference answers the same canned page, whose
// `next` never ends). Run as a script (`node --import tsx bench/walk.ts URL PATH`), it walks in a
// loop until SIGTERM: the client that walks while the bench measures /get (see processes.ts,
// startWalker). It prints `ready` after its first page, then one JSON line per walk, and on
// SIGTERM one line with what it listed after its first page, in how long, and its own CPU
// meanwhile ({sessions, seconds, cpuSeconds}).
import { Agent, get } from 'node:http'
import { fileURLToPath } from 'node:url'

export interface Walk {
  seconds: number
  pages: number
  sessions: number
}

// The envelope ends with `next` (the service's schema orders it last; the reference's canned
// pages are the service's): read from the body's end, with the sessions counted by their `id`
// key, the client's work stays a small part of a page's. The pages have no extra data. node:http
// rather than fetch: a page of 1000 (about 180 kB) cost fetch 1.1 ms of CPU here, node:http 0.4.
const NEXT = /"next":(?:null|"([A-Za-z0-9_-]+)")\}$/
const ID_KEY = Buffer.from('"id":"')
const agent = new Agent({ keepAlive: true })

function countOf (body: Buffer): number {
  let n = 0
  for (let at = body.indexOf(ID_KEY); at >= 0; at = body.indexOf(ID_KEY, at + ID_KEY.length)) n++
  return n
}

/** GET `url`: its status and its body. */
async function fetchBody (url: string, timeoutMs: number): Promise<{ status: number, body: Buffer }> {
  return await new Promise((resolve, reject) => {
    const req = get(url, { agent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}

/**
 * One walk of `path` (a list's URL with its query: `/ip?ip=...&limit=...`) at `url`. `ids`: each
 * page parsed as JSON, and the ids of its sessions added to this set (to check that a walk lists
 * each session once); otherwise read as above.
 */
export async function walk (url: string, path: string, opts: { maxPages?: number, timeoutSeconds?: number, onPage?: (sessions: number) => void, ids?: Set<string> } = {}): Promise<Walk> {
  const started = performance.now()
  const deadline = started + (opts.timeoutSeconds ?? 300) * 1000
  let after: string | null = null
  let pages = 0
  let sessions = 0
  do {
    // Cursors are base64url: nothing to escape.
    const { status, body } = await fetchBody(`${url}${path}${after === null ? '' : `&after=${after}`}`, Math.max(1000, deadline - performance.now()))
    if (status !== 200) throw new Error(`${path}: HTTP ${status} on page ${pages + 1}: ${body.subarray(0, 200).toString()}`)
    let count: number
    const tail = opts.ids === undefined ? NEXT.exec(body.subarray(-80).toString()) : null
    if (tail !== null) {
      count = countOf(body)
      after = tail[1] ?? null
    } else {
      const page = JSON.parse(body.toString()) as { data: Array<{ id: string }>, next: string | null }
      for (const session of page.data) opts.ids?.add(session.id)
      count = page.data.length
      after = page.next
    }
    pages++
    sessions += count
    opts.onPage?.(count)
    if (performance.now() > deadline) throw new Error(`${path}: the walk took over ${opts.timeoutSeconds ?? 300} s (${pages} pages)`)
  } while (after !== null && (opts.maxPages === undefined || pages < opts.maxPages))
  return { seconds: (performance.now() - started) / 1000, pages, sessions }
}

async function loop (url: string, path: string): Promise<void> {
  let firstPage: number | undefined
  let cpuAtFirstPage: NodeJS.CpuUsage | undefined
  let listed = 0
  process.once('SIGTERM', () => {
    const seconds = firstPage === undefined ? 0 : (performance.now() - firstPage) / 1000
    const cpu = process.cpuUsage(cpuAtFirstPage)
    const cpuSeconds = cpuAtFirstPage === undefined ? 0 : (cpu.user + cpu.system) / 1e6
    process.stdout.write(JSON.stringify({ sessions: listed, seconds, cpuSeconds }) + '\n', () => process.exit(0))
  })
  const onPage = (sessions: number): void => {
    if (firstPage === undefined) {
      firstPage = performance.now()
      cpuAtFirstPage = process.cpuUsage()
      process.stdout.write('ready\n')
      return
    }
    listed += sessions
  }
  for (;;) process.stdout.write(JSON.stringify(await walk(url, path, { onPage })) + '\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [url, path] = process.argv.slice(2)
  loop(url, path).catch((err: Error) => {
    console.error(`walker failed: ${err.stack ?? err.message}`)
    process.exit(1)
  })
}
