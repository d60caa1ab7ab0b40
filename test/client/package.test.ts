// The package as users get it: `npm pack` in client/, installed offline into an empty directory,
// then imported by a plain .mjs that calls the running service, and compiled against by a .mts.
import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { uniqueUserId } from '../support/app.js'
import { serveApp, type ServedApp } from '../support/client.js'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const HERE = fileURLToPath(new URL('./package/', import.meta.url))
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'

// The npm that runs `npm test` passes its own script's variables down; the nested npm gets only
// configuration.
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('npm_') || key.startsWith('npm_config_')))

let served: ServedApp
let dir: string
beforeAll(async () => {
  served = await serveApp()
  dir = mkdtempSync(join(tmpdir(), 'sessions-client-pack-'))
})
afterAll(async () => {
  await served.app.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('the packed sessions-client', () => {
  it('holds only its build and README, installs offline into an empty project, imports and calls the service', { timeout: 60_000 }, async () => {
    const { stdout } = await run(NPM, ['pack', '--json', '--pack-destination', dir], { cwd: join(ROOT, 'client'), env })
    // The prepack build writes its own lines before the JSON.
    const [packed] = JSON.parse(stdout.slice(stdout.search(/^\[/m))) as Array<{ filename: string, files: Array<{ path: string }> }>
    const files = packed.files.map((f) => f.path)
    expect(files.filter((path) => !/^dist\/[\w-]+\.(js|d\.ts)$/.test(path)).sort()).toEqual(['README.md', 'package.json'])
    expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/fastify.js', 'dist/express.d.ts']))

    const project = join(dir, 'project')
    const write = (name: string, text: string): void => { writeFileSync(join(project, name), text) }
    mkdirSync(project)
    write('package.json', JSON.stringify({ name: 'uses-sessions-client', private: true, type: 'module' }))
    await run(NPM, ['install', '--offline', '--no-audit', '--no-fund', join(dir, packed.filename)], { cwd: project, env })
    copyFileSync(join(HERE, 'use.mjs'), join(project, 'use.mjs'))
    copyFileSync(join(HERE, 'types.mts'), join(project, 'types.mts'))

    const used = await run(process.execPath, ['use.mjs', served.baseUrl, String(uniqueUserId())], { cwd: project })
    expect(JSON.parse(used.stdout)).toEqual({
      same: true, extra: { from: 'package' }, listed: 1, code: 'token_not_found', cookie: true, middleware: 'function', plugin: 'function', endpoints: 11, hits: 1
    })

    // No DOM library and no skipLibCheck: the declarations stand on Node's types alone.
    await run(process.execPath, [
      join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--target', 'es2022', '--lib', 'es2023',
      '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules/@types'), 'types.mts'
    ], { cwd: project }).catch((err: Error & { stdout?: string }) => { throw new Error(`tsc: ${err.stdout ?? String(err)}`) })
  })
})
