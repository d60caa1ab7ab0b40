// npm run lint: standard style (neostandard) on every JS and TS file, and typescript-eslint's
// type-checked rules on the TypeScript, each file checked with the nearest tsconfig.json (client/ has
// its own). Each rule turned off or relaxed says why.
import { defineConfig, globalIgnores } from 'eslint/config'
import { neostandard, resolveIgnoresFromGitignore } from 'neostandard'
import tseslint from 'typescript-eslint'

export default defineConfig([
  globalIgnores(resolveIgnoresFromGitignore()),
  // .mts: the package test's consumer, compiled against the packed client, not by our tsconfig.
  ...neostandard({ ts: true, filesTs: ['**/*.mts'] }),
  {
    name: 'sessions/style',
    files: ['**/*.{js,mjs,ts,mts}'],
    rules: {
      // `void promise` as a statement is how a promise is left unawaited on purpose (no-floating-promises).
      'no-void': ['error', { allowAsStatement: true }],
      // Names such as resolvePort say what is awaited, and keep clear of node:path's resolve.
      'promise/param-names': ['error', { resolvePattern: '^_?resolve', rejectPattern: '^_?reject' }]
    }
  },
  {
    name: 'sessions/typed',
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    rules: {
      // Fastify plugins, hooks and handlers are async by contract, whether or not they await.
      '@typescript-eslint/require-await': 'off',
      // A caught value is passed on as it came, as `throw err` in a catch would.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }]
    }
  },
  {
    name: 'sessions/tests',
    files: ['test/**/*.ts'],
    rules: {
      // A response body is whatever JSON came back (`any`), checked whole by toEqual; vitest's
      // asymmetric matchers (expect.any) are typed `any` too.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // The loads loop until a flag that another task sets while they await.
      'no-unmodified-loop-condition': 'off'
    }
  },
  {
    name: 'sessions/metrics',
    files: ['src/plugins/metrics.ts'],
    // prom-client's metrics join the registries given to their constructor: `new Gauge` is the registration.
    rules: { 'no-new': 'off' }
  },
  {
    name: 'sessions/logger',
    files: ['src/http/logger.ts'],
    // `as Log` picks one of pino's overloaded LogFn signatures; the rule takes the two for the same type.
    rules: { '@typescript-eslint/no-unnecessary-type-assertion': 'off' }
  },
  {
    name: 'sessions/php-client',
    files: ['test/php-client.test.ts'],
    // The seed's PHP client is quoted as it was written, tabs included.
    rules: { '@stylistic/no-tabs': 'off' }
  },
  {
    name: 'sessions/hostile-inputs',
    files: ['test/support/hostile.ts'],
    // `${jndi:...}` is one of the hostile inputs: a literal on purpose.
    rules: { 'no-template-curly-in-string': 'off' }
  }
])
