// The parts of autocannon (untyped) that the bench uses.
declare module 'autocannon' {
  export interface Request {
    method?: string
    path?: string
    /** Any other field: each connection has its own copy (autocannon copies the requests deeply). */
    [field: string]: unknown
    setupRequest?: (req: Request, context: Record<string, unknown>) => Request
    /**
     * Called with each response of this request, before the connection's next request is set up;
     * `context`: the connection's, cleared each time its list of requests comes round to its start.
     */
    onResponse?: (status: number, body: string, context: Record<string, unknown>) => void
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
    errors: number
    timeouts: number
    non2xx: number
    '2xx': number
    duration: number
  }
  export interface Instance extends PromiseLike<Result> {
    stop: () => void
    /** Each response, as it comes: its time in milliseconds (fractional). */
    on: ((event: 'response', listener: (client: unknown, statusCode: number, bytes: number, ms: number) => void) => Instance) &
      /** The end of the round, stopped or not. */
      ((event: 'done', listener: (result: Result) => void) => Instance)
  }
  export default function autocannon (opts: Options): Instance
}
