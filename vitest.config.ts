import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests next to each package, and end-to-end tests in test/ that drive
// the built CLIs, real channels, real nx and Work Queue. `npm test` runs both.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 900_000,
          // End-to-end tests share caches (test channel, package cache) and spawn heavy
          // processes; running files one at a time keeps them predictable on 2 cores.
          fileParallelism: false,
        },
      },
    ],
  },
});
