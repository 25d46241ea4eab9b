import { defineConfig } from 'vitest/config';
import { fromSources, testDefaults } from '../../vitest.shared.ts';

export default defineConfig({
  ...fromSources,
  test: {
    ...testDefaults,
    // etcd-files.test.ts starts real etcd processes; the other files run in-process.
    testTimeout: 120_000,
  },
});
