// Real HTTP for the reliability tests: one new connection per request, as many clients at once do.
import { request as httpRequest, type Agent } from 'node:http'

export interface HttpReply {
  status: number
  /** The parsed JSON body (undefined if it was not JSON). */
  body: any
  /** The body as it came. */
  text: string
}

export interface HttpOptions {
  method?: string
  headers?: Record<string, string | number>
  body?: string | Buffer
  /** The whole exchange must end within this time, else the promise rejects (default 30 s). */
  timeoutMs?: number
  /** Connections to reuse; by default a fresh connection for this request alone. */
  agent?: Agent
  /** Called once the whole request is handed to the operating system (not if it never is). */
  onSent?: () => void
}

/** Sends one request to 127.0.0.1:port (on a fresh connection unless an agent is given). */
export function http (port: number, path: string, opts: HttpOptions = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      path,
      method: opts.method ?? 'GET',
      headers: opts.headers,
      agent: opts.agent ?? false,
      timeout: opts.timeoutMs ?? 30_000
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        let body: unknown
        try { body = JSON.parse(text) } catch { body = undefined }
        resolve({ status: res.statusCode!, body, text })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`no answer to ${path} within ${opts.timeoutMs ?? 30_000} ms`)))
    req.on('error', reject)
    if (opts.onSent) req.once('finish', opts.onSent)
    req.end(opts.body)
  })
}
