import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Starts a real `parley dev` (private Postgres + demo data) for the run.
    globalSetup: ["./test/globalSetup.ts"],
    include: ["test/**/*.test.{ts,tsx}"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The machine is small; two files at a time is plenty.
    maxWorkers: 2,
    minWorkers: 1,
    typecheck: {
      enabled: true,
      include: ["test/**/*.test-d.ts"],
      tsconfig: "./tsconfig.json",
    },
  },
});
