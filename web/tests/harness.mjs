// Test harness: a real `parley dev` serving the built app (web/dist), and
// headless Chromium (Debian's) driven by playwright-core. Tests wait with
// locators and polling, never with fixed sleeps.
import { spawn, execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const webDir = resolve(here, "..");
export const repoDir = resolve(webDir, "..");
export const artifactsDir = join(webDir, "test-artifacts");

/** How long a test waits for something the server pushes. */
export const timeout = 20_000;
/** How long a test waits for a restarted server and the client's reconnect backoff. */
export const reconnectTimeout = 60_000;

export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The parley binary: $PARLEY_BIN, or built once into the data directory. */
function parleyBinary(dir) {
  if (process.env.PARLEY_BIN) return resolve(process.env.PARLEY_BIN);
  const bin = join(dir, "parley");
  execFileSync("go", ["build", "-o", bin, "./cmd/parley"], { cwd: repoDir, stdio: "inherit" });
  return bin;
}

async function freePort() {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}

/**
 * A `parley dev` on a private data directory and a fixed port, so that
 * restart() brings it back where the pages expect it.
 */
export class DevServer {
  /**
   * Starts a server; args are added to `parley dev`'s (e.g. ["--db-grace",
   * "300ms"]). Its demo AI assistant, which would answer customers' support
   * conversations, is off unless ai is true (assistant.test.mjs).
   */
  static async start(args = [], { ai = false } = {}) {
    if (!existsSync(join(webDir, "dist", "index.html"))) {
      throw new Error("web/dist is not built: run `npm run build` in web/ (scripts/test.sh does)");
    }
    const dir = mkdtempSync(join(tmpdir(), "parley-web-test-"));
    const s = new DevServer(dir, parleyBinary(dir), await freePort(), [...(ai ? [] : ["--ai-demo=false"]), ...args]);
    await s.run();
    return s;
  }

  constructor(dir, bin, port, args = []) {
    this.args = args;
    this.dir = dir;
    this.bin = bin;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.proc = null;
    this.log = "";
  }

  async run() {
    const args = ["dev", "--data", join(this.dir, "data"), "--addr", `127.0.0.1:${this.port}`,
      "--web", join(webDir, "dist"), "--log-level", "warn", ...this.args];
    const proc = spawn(this.bin, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.proc = proc;
    this.exited = once(proc, "exit");
    let log = "";
    const serving = new Promise((resolveServing, reject) => {
      proc.stderr.on("data", (b) => {
        log += b.toString();
        this.log += b.toString();
        if (log.includes("serving on")) resolveServing();
      });
      proc.on("exit", (code) => reject(new Error(`parley dev exited (${code}) before serving:\n${log}`)));
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 120_000);
    try {
      await serving;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the server with SIGINT (as Ctrl-C) and waits for it to exit. */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill("SIGINT");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 60_000);
    await this.exited;
    clearTimeout(timer);
  }

  /**
   * Runs SQL as the superuser on the cluster's postgres database (not the
   * server's, which a test may make refuse connections); returns psql's
   * unaligned output.
   */
  sql(query) {
    // postgres://user@/parley?host=/socket/dir&…: swap the database name.
    const dbUrl = readFileSync(join(this.dir, "data", "database.url"), "utf8").trim();
    const m = /^(postgres(?:ql)?:\/\/[^/]*\/)([^?]*)(.*)$/.exec(dbUrl);
    if (!m) throw new Error(`unexpected database URL ${dbUrl}`);
    this.dbName = decodeURIComponent(m[2]);
    return execFileSync("psql", [`${m[1]}postgres${m[3]}`, "-v", "ON_ERROR_STOP=1", "-Atc", query], { encoding: "utf8" }).trim();
  }

  /** Runs SQL on the server's own database, as a shop backend would; returns psql's unaligned output. */
  appSql(query) {
    const dbUrl = readFileSync(join(this.dir, "data", "database.url"), "utf8").trim();
    return execFileSync("psql", [dbUrl, "-v", "ON_ERROR_STOP=1", "-Atc", query], { encoding: "utf8" }).trim();
  }

  /** The server's database refuses (false) or accepts (true) new connections; existing ones live on. */
  allowConnections(on) {
    this.sql("SELECT 1"); // sets dbName
    this.sql(`ALTER DATABASE "${this.dbName}" WITH ALLOW_CONNECTIONS ${on}`);
  }

  /** Ends the server's connections to its database: the replication stream (walsender) only, or all. */
  terminate(which) {
    this.sql("SELECT 1");
    const q = which === "walsender"
      ? `SELECT count(pg_terminate_backend(r.pid)) FROM pg_stat_replication r JOIN pg_stat_activity a USING (pid) WHERE a.datname = '${this.dbName}'`
      : `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '${this.dbName}' AND pid <> pg_backend_pid()`;
    return Number(this.sql(q));
  }

  async restart() {
    await this.stop();
    await this.run();
  }

  async close() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
}

/**
 * A browser context of its own (its own sessionStorage: one identity),
 * signed in as a demo identity through the app's `?as=` link, on path.
 */
export async function openAs(browser, server, key, path = "/") {
  const context = await browser.newContext({ viewport: { width: 1180, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e));
  await page.goto(`${server.url}${path}${path.includes("?") ? "&" : "?"}as=${key}`);
  await page.getByTestId("whoami").waitFor();
  await waitConnected(page);
  return page;
}

export async function waitConnected(page, ms = timeout) {
  await page.locator('[data-testid="connection"][data-state="connected"]').waitFor({ timeout: ms });
}

let shot = 0;
/** Saves a screenshot as web/test-artifacts/NN-name.png (the first one of a run clears the old ones). */
export async function screenshot(page, name) {
  if (shot === 0) rmSync(artifactsDir, { recursive: true, force: true });
  mkdirSync(artifactsDir, { recursive: true });
  shot += 1;
  await page.screenshot({ path: join(artifactsDir, `${String(shot).padStart(2, "0")}-${name}.png`) });
}

/** The message bubble (delivered) holding text. */
export function message(page, text) {
  return page.getByTestId("message").filter({ hasText: text });
}

/** Types text into the composer and presses Enter. */
export async function send(page, text) {
  await page.getByTestId("composer-input").fill(text);
  await page.getByTestId("composer-input").press("Enter");
}

/** A w×h PNG with a colour gradient (a photo stand-in), made here. */
export function makePNG(w, h) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    const row = y * (w * 3 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < w; x++) {
      raw[row + 1 + x * 3] = Math.round((x / w) * 255);
      raw[row + 2 + x * 3] = Math.round((y / h) * 255);
      raw[row + 3 + x * 3] = 160;
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Calls a function over the HTTP API as a demo identity; returns its value. */
export async function call(server, key, kind, path, args) {
  const tok = await fetch(`${server.url}/dev/token`, { method: "POST", body: JSON.stringify({ identity: key }) });
  const { token } = await tok.json();
  for (;;) {
    const res = await fetch(`${server.url}/api/${kind}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ path, args }),
    });
    const body = await res.json();
    if (body.status === "success") return body.value;
    const retry = body.errorData?.code === "rate_limited" ? body.errorData.retryAfterMs : undefined;
    if (retry === undefined) throw new Error(`${path}: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, retry)); // the server says when
  }
}
