// Starts the Tarantool that the test files share, unless TARANTOOL_TEST_URI names one.
import type { TestProject } from 'vitest/node'
import { startTarantool } from './support/tarantool.js'

declare module 'vitest' {
  export interface ProvidedContext {
    tarantoolUri: string
  }
}

export default async function setup (project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.TARANTOOL_TEST_URI
  if (given) {
    project.provide('tarantoolUri', given)
    return async () => {}
  }
  const instance = await startTarantool()
  project.provide('tarantoolUri', instance.uri)
  return instance.stop
}
