// A Node process's heap as its inspector tells it (`node --inspect=127.0.0.1:PORT`, loopback only):
// a full garbage collection, then the heap in use. What lives per idle subscriber, apart from the
// garbage that an RSS reading counts until the collector happens to run. Node's global WebSocket
// speaks the inspector's protocol.

/** The inspector of a process started with `--inspect=127.0.0.1:<port>`. */
export class Inspector {
  readonly #ws: WebSocket
  readonly #pending = new Map<number, (result: unknown) => void>()
  #id = 0

  private constructor (ws: WebSocket) {
    this.#ws = ws
    ws.onmessage = (message) => {
      const reply = JSON.parse(String(message.data)) as { id?: number, result?: unknown }
      if (reply.id !== undefined) this.#pending.get(reply.id)?.(reply.result)
      this.#pending.delete(reply.id ?? -1)
    }
  }

  static async connect (port: number): Promise<Inspector> {
    const res = await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(10_000) })
    const [target] = await res.json() as Array<{ webSocketDebuggerUrl: string }>
    const ws = new WebSocket(target.webSocketDebuggerUrl)
    await new Promise((resolve, reject) => {
      ws.onopen = resolve
      ws.onerror = () => reject(new Error(`could not connect to the inspector on port ${port}`))
    })
    return new Inspector(ws)
  }

  async #call<T> (method: string): Promise<T> {
    const id = ++this.#id
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { this.#pending.delete(id); reject(new Error(`the inspector did not answer ${method} within 30 s`)) }, 30_000)
      this.#pending.set(id, (result) => { clearTimeout(timer); resolve(result as T) })
      this.#ws.send(JSON.stringify({ id, method }))
    })
  }

  /** The heap in use after a full collection, in KB. */
  async heapAfterGcKb (): Promise<number> {
    await this.#call('HeapProfiler.collectGarbage')
    return (await this.#call<{ usedSize: number }>('Runtime.getHeapUsage')).usedSize / 1024
  }

  close (): void {
    this.#ws.close()
  }
}
