import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

// Tests import workspace packages from source; spawned processes (CLI, services)
// run the built `dist/` output, which `npm test` builds first.
const alias = {
  '@hwledger/chain': src('./packages/chain/src/index.ts'),
  '@hwledger/proto': src('./packages/proto/src/index.ts'),
  '@hwledger/core': src('./packages/core/src/index.ts'),
  '@hwledger/testkit': src('./packages/testkit/src/index.ts'),
  '@hwledger/agent': src('./services/agent/src/index.ts'),
  '@hwledger/sequencer': src('./services/sequencer/src/index.ts'),
  '@hwledger/projector': src('./services/projector/src/index.ts'),
  '@hwledger/reconciler': src('./services/reconciler/src/index.ts'),
  '@hwledger/api': src('./services/api/src/index.ts'),
  '@hwledger/ledger-ops': src('./packages/ledger-ops/src/index.ts'),
  '@hwledger/native-hash': src('./packages/native-hash/src/index.ts'),
};

const common = { exclude: ['**/node_modules/**', '**/dist/**'] };

export default defineConfig({
  resolve: { alias },
  test: {
    // Test tier is in the file name: *.unit.test.ts (pure logic),
    // *.int.test.ts (real nats-server / Postgres), *.e2e.test.ts (whole processes).
    projects: [
      {
        resolve: { alias },
        // Projects with different maxWorkers need their own groupOrder (vitest 4): unit first.
        test: { ...common, name: 'unit', include: ['**/*.unit.test.ts'], testTimeout: 30_000, sequence: { groupOrder: 0 } },
      },
      {
        resolve: { alias },
        test: {
          ...common,
          name: 'int',
          include: ['**/*.int.test.ts', '**/*.e2e.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // Two cores: integration files each start their own servers.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
