// Starts a real `parley dev` (private Postgres cluster, demo data) on a
// free port in a temporary directory: globalSetup starts the one every
// test shares; a test that breaks the database starts one of its own.

import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const STARTUP_MS = 90_000;

export interface RunningServer {
  url: string;
  /** The data directory (for `parley token --data` and database.url). */
  data: string;
  /** The temporary directory holding data and the log. */
  dir: string;
  stop(): Promise<void>;
}

/**
 * Starts `bin dev` with args added; dir defaults to a new temporary
 * directory. The demo AI assistant, which would answer customers' support
 * conversations, is off unless args say `--ai-demo=true` (a later flag wins).
 */
export async function startParley(bin: string, args: string[] = [], dir?: string): Promise<RunningServer> {
  dir ??= await mkdtemp(join(tmpdir(), "parley-client-ts-"));
  const data = join(dir, "data");
  const logPath = join(dir, "server.log");
  const log = createWriteStream(logPath);
  const server = spawn(
    bin,
    ["dev", "--data", data, "--addr", "127.0.0.1:0", "--message-rate", "-1", "--typing-rate", "-1", "--ai-demo=false", ...args],
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

  return {
    url,
    data,
    dir,
    async stop() {
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
    },
  };
}
