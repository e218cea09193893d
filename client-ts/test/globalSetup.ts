// Starts one real Parley server for the whole run: `parley dev` on a free
// port with a private Postgres cluster and the demo data, in a temporary
// directory removed afterwards. The binary is $PARLEY_BIN, else built from
// the repository with `go build`. Tests get the URL, the binary and the
// data directory (to mint tokens) through inject().

import { execFile, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    parleyUrl: string;
    parleyBin: string;
    parleyData: string;
  }
}

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const STARTUP_MS = 90_000;

export default async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), "parley-client-ts-"));
  let bin = process.env.PARLEY_BIN;
  if (!bin) {
    bin = join(dir, "parley");
    await run("go", ["build", "-o", bin, "./cmd/parley"], { cwd: repoRoot, maxBuffer: 16 << 20 });
  }
  const data = join(dir, "data");
  const logPath = join(dir, "server.log");
  const log = createWriteStream(logPath);
  const server = spawn(
    bin,
    ["dev", "--data", data, "--addr", "127.0.0.1:0", "--message-rate", "-1", "--typing-rate", "-1"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const exited = new Promise<number | null>((res) => server.once("exit", (code) => res(code)));

  const url = await new Promise<string>((res, rej) => {
    let seen = "";
    const timer = setTimeout(() => rej(new Error(`parley dev did not start within ${STARTUP_MS}ms`)), STARTUP_MS);
    server.stderr!.on("data", (chunk: Buffer) => {
      log.write(chunk);
      seen += chunk.toString();
      const m = /serving on (http:\/\/\S+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        seen = "";
        res(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`parley dev exited with ${code} before serving`));
    });
  }).catch(async (e: Error) => {
    server.kill("SIGINT");
    const text = await readFile(logPath, "utf8").catch(() => "");
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${e.message}\n--- server log ---\n${text}`);
  });

  project.provide("parleyUrl", url);
  project.provide("parleyBin", bin);
  project.provide("parleyData", data);

  return async () => {
    server.kill("SIGINT");
    const killer = setTimeout(() => server.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(killer);
    log.end();
    if (process.env.PARLEY_KEEP_TEST_DIR) {
      console.log(`parley test data and log kept in ${dir}`);
    } else {
      await rm(dir, { recursive: true, force: true });
    }
  };
}
