import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 30_000,
    // A promise rejection nobody handles fails the run, even where a handler is installed.
    execArgv: ['--unhandled-rejections=strict'],
    // testkit starts the binary it is given (it does not depend on this package).
    env: { RAFTKV_BIN: fileURLToPath(new URL('./bin/raftkv', import.meta.url)) },
  },
});
