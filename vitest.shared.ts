// Settings every package's vitest.config.ts starts from.

/**
 * Tests import sibling packages from their sources (the "raftkv-source" export condition), so
 * a package's tests need no build of the packages it depends on.
 */
const conditions = ['raftkv-source', 'node', 'import', 'default'];
export const fromSources = { resolve: { conditions }, ssr: { resolve: { conditions } } };

export const testDefaults = {
  include: ['src/**/*.test.ts'],
  testTimeout: 30_000,
  // A promise rejection nobody handles fails the run, even where a handler is installed.
  execArgv: ['--unhandled-rejections=strict'],
};
