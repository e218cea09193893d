// Starts one real Parley server for the whole run: `parley dev` on a free
// port with a private Postgres cluster and the demo data, in a temporary
// directory removed afterwards (test/server.ts). The binary is
// $PARLEY_BIN, else built from the repository with `go build`. Tests get
// the URL, the binary and the data directory (to mint tokens) through
// inject().

import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";
import { startParley } from "./server.js";

declare module "vitest" {
  export interface ProvidedContext {
    parleyUrl: string;
    parleyBin: string;
    parleyData: string;
  }
}

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export default async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), "parley-client-ts-"));
  let bin = process.env.PARLEY_BIN;
  if (!bin) {
    bin = join(dir, "parley");
    await run("go", ["build", "-o", bin, "./cmd/parley"], { cwd: repoRoot, maxBuffer: 16 << 20 });
  }
  const server = await startParley(bin, [], dir);
  project.provide("parleyUrl", server.url);
  project.provide("parleyBin", bin);
  project.provide("parleyData", server.data);
  return () => server.stop();
}
