import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { testDefaults } from '../../vitest.shared.ts';

export default defineConfig({
  test: {
    ...testDefaults,
    // testkit starts the binary it is given (it does not depend on this package).
    env: { TESTKIT_RAFTKV_BIN: fileURLToPath(new URL('./bin/raftkv', import.meta.url)) },
    // Files run in parallel, two at a time, on purpose: most suites here spawn real servers
    // (a raftkv, a reference etcd, 3-member clusters). Two keep a 2-core machine busy while one
    // file waits on its servers; more (vitest's default is one per core) would let a larger CI
    // machine start a dozen clusters at once and starve their election and lease timers.
    // testkit kills every child with its worker and retries a start that lost a port race.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
