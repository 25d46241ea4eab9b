import { defineConfig } from 'vitest/config';

// Tests import sibling packages from their sources (the "raftkv-source" export condition).
const conditions = ['raftkv-source', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 30_000,
    // A promise rejection nobody handles fails the run, even where a handler is installed.
    execArgv: ['--unhandled-rejections=strict'],
  },
});
