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
    // The type tests (test/*.test-d.ts) are compile-time assertions
    // (expectTypeOf, @ts-expect-error): `npm run typecheck` (tsc -p
    // tsconfig.json, which includes test/) checks them before vitest runs, so
    // vitest's own typecheck mode, which runs the same tsc again and prints an
    // "experimental feature" notice on every run, stays off. `npx vitest
    // --typecheck` still runs them through vitest.
    typecheck: {
      enabled: false,
      include: ["test/**/*.test-d.ts"],
      tsconfig: "./tsconfig.json",
    },
  },
});
