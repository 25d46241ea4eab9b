// Where the `raftkv` binary is, for the tools in this package that start it (bench, fuzz) and
// for the tests (vitest.config.ts sets TESTKIT_RAFTKV_BIN): testkit is told, it does not depend on us.
import { fileURLToPath } from 'node:url';

/** apps/server/bin/raftkv (it runs dist/): one level up from both src/ and dist/. */
export const raftkvBin = fileURLToPath(new URL('../bin/raftkv', import.meta.url));
