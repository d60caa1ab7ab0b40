// The parts of autocannon (untyped) that the bench uses.
declare module 'autocannon' {
  export interface Request {
    method?: string
    path?: string
    setupRequest?: (req: Request, context: Record<string, unknown>) => Request
  }
  export interface Options {
    url: string
    connections: number
    duration: number
    pipelining?: number
    timeout?: number
    requests?: Request[]
  }
  export interface Histogram {
    average: number
    p50: number
    p99: number
    max: number
  }
  export interface Result {
    requests: Histogram & { total: number, sent: number }
    latency: Histogram
    errors: number
    timeouts: number
    non2xx: number
    '2xx': number
    duration: number
  }
  export interface Instance extends PromiseLike<Result> {
    stop: () => void
  }
  export default function autocannon (opts: Options): Instance
}
