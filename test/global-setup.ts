// Starts the Tarantool that the test files share, unless TARANTOOL_TEST_URI names one; says which
// Node and Tarantool the run uses.
import type { TestProject } from 'vitest/node'
import { startTarantool, TARANTOOL_BIN, tarantoolVersion } from './support/tarantool.js'

declare module 'vitest' {
  export interface ProvidedContext {
    tarantoolUri: string
  }
}

export default async function setup (project: TestProject): Promise<() => Promise<void>> {
  // .ci/run installs a Node and says which: a run on another one (an npm or a shebang that
  // picked the machine's own) would pass without testing it.
  const expected = process.env.CI_NODE_VERSION
  if (expected && process.version !== expected) {
    throw new Error(`the tests run on Node ${process.version}, not on ${expected} (CI_NODE_VERSION), which .ci/run installed`)
  }
  const tarantool = tarantoolVersion()
  console.log(`tests on Node ${process.version}, ${tarantool === undefined ? 'no local tarantool (containers, if a Docker engine is there)' : `${tarantool.text} (${TARANTOOL_BIN})`}`)
  const given = process.env.TARANTOOL_TEST_URI
  if (given) {
    project.provide('tarantoolUri', given)
    return async () => {}
  }
  const instance = await startTarantool()
  project.provide('tarantoolUri', instance.uri)
  return instance.stop
}
