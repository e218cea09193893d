// Staleness and retries against a server of this file's own, whose
// database the tests make unreachable (the shared server's other tests
// must not notice): isStale/onStaleChange follow the server's ParleyStatus
// messages, which never reach convex, and a mutation that meets an
// unreachable database is retried until it goes through, once.

import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, inject, test, vi } from "vitest";
import WebSocket from "ws";
import { api, createParleyClient, isParleyError, type MutationRetryInfo, type ParleyClient, type ParleyClientOptions } from "../src/index.js";
import { parseStatus, withStatusQuery } from "../src/status.js";
import { DEMO, IDENTITIES, mintToken, unique } from "./helpers.js";
import { startParley, type RunningServer } from "./server.js";

const run = promisify(execFile);

let server: RunningServer;
/** The server's database, and a URL of the cluster's postgres database to manage it from. */
let dbName: string;
let adminUrl: string;

beforeAll(async () => {
  // A short grace: a mutation fails as unavailable soon after the
  // database goes away, instead of after 10s.
  server = await startParley(inject("parleyBin"), ["--db-grace", "300ms"]);
  // postgres://user@/db?host=/socket/dir&…: not a URL WHATWG parses (no host).
  const dbUrl = (await readFile(join(server.data, "database.url"), "utf8")).trim();
  const m = /^(postgres(?:ql)?:\/\/[^/]*\/)([^?]*)(.*)$/.exec(dbUrl);
  if (!m) throw new Error(`unexpected database URL ${dbUrl}`);
  dbName = decodeURIComponent(m[2]!);
  adminUrl = `${m[1]}postgres${m[3]}`;
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

async function sql(query: string): Promise<string> {
  const { stdout } = await run("psql", [adminUrl, "-v", "ON_ERROR_STOP=1", "-Atc", query]);
  return stdout.trim();
}

/** New connections to the server's database are refused (existing ones live on). */
async function refuseConnections(): Promise<void> {
  await sql(`ALTER DATABASE "${dbName}" WITH ALLOW_CONNECTIONS false`);
}

async function allowConnections(): Promise<void> {
  await sql(`ALTER DATABASE "${dbName}" WITH ALLOW_CONNECTIONS true`);
}

/** Ends the server's replication stream; returns how many walsenders were ended. */
async function terminateWalsender(): Promise<number> {
  return Number(
    await sql(`SELECT count(pg_terminate_backend(r.pid)) FROM pg_stat_replication r
      JOIN pg_stat_activity a USING (pid) WHERE a.datname = '${dbName}'`),
  );
}

/** Ends every connection to the server's database. */
async function terminateAll(): Promise<void> {
  await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${dbName}' AND pid <> pg_backend_pid()`);
}

const open: ParleyClient[] = [];
afterEach(async () => {
  await allowConnections();
  await Promise.all(open.splice(0).map((c) => c.close()));
});

function client(options: Partial<ParleyClientOptions> = {}): ParleyClient {
  const c = createParleyClient({
    url: server.url,
    auth: () => mintToken(IDENTITIES.customer, server.data),
    // Node 20 has no global WebSocket: the client wraps the one given.
    webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket,
    convex: { logger: false },
    ...options,
  });
  open.push(c);
  return c;
}

describe("status messages", () => {
  test("parseStatus takes only ParleyStatus; withStatusQuery keeps the URL's query and fragment", () => {
    expect(parseStatus('{"type":"ParleyStatus","stale":true}')).toEqual({ type: "ParleyStatus", stale: true });
    expect(parseStatus('{"type":"ParleyStatus"}')).toBeUndefined();
    expect(parseStatus('{"type":"Ping"}')).toBeUndefined();
    expect(parseStatus(new ArrayBuffer(2))).toBeUndefined();
    expect(withStatusQuery("ws://h/api/1.48.0/sync")).toBe("ws://h/api/1.48.0/sync?parleyStatus=1");
    expect(withStatusQuery("ws://h/sync?a=1#f")).toBe("ws://h/sync?a=1&parleyStatus=1#f");
  });
});

describe("isStale", () => {
  test("is true while the replication stream is down, false again once it is back; subscriptions keep their results", async () => {
    const c = client();
    const changes: boolean[] = [];
    c.onStaleChange((s) => changes.push(s));
    const sub = c.onUpdate(api.shared.chat.getMessages, { conversationId: DEMO.conversationId, limit: 5 }, () => {});
    await vi.waitFor(() => expect(sub.getCurrentValue()).toBeDefined(), { timeout: 20_000 });
    await vi.waitFor(() => expect(c.isStale()).toBe(false), { timeout: 20_000 });
    changes.length = 0;

    await refuseConnections(); // the stream cannot come back until allowed
    expect(await terminateWalsender()).toBeGreaterThan(0);
    await vi.waitFor(() => expect(c.isStale()).toBe(true), { timeout: 20_000 });
    expect(c.connectionState()).toBe("connected"); // the server said so; the socket is fine
    expect(changes).toEqual([true]);
    expect(sub.getCurrentValue()?.messages.length).toBeGreaterThan(0);

    await allowConnections();
    await vi.waitFor(() => expect(c.isStale()).toBe(false), { timeout: 40_000 });
    expect(changes).toEqual([true, false]);
    expect(sub.getCurrentValue()?.messages.length).toBeGreaterThan(0);
  }, 90_000);

  test("is true while disconnected and once closed", async () => {
    const c = client();
    await c.query(api.shared.chat.getUnreadCount);
    await vi.waitFor(() => expect(c.isStale()).toBe(false), { timeout: 20_000 });
    const wsm = (c.convex.client as unknown as { webSocketManager: { closeAndReconnect(r: string): void } })
      .webSocketManager;
    const changes: boolean[] = [];
    c.onStaleChange((s) => changes.push(s));
    wsm.closeAndReconnect("test: drop the socket");
    expect(c.isStale()).toBe(true);
    await vi.waitFor(() => expect(c.isStale()).toBe(false), { timeout: 20_000 });
    expect(changes).toEqual([true, false]);
    await c.close();
    expect(c.isStale()).toBe(true);
  }, 60_000);
});

describe("mutation retries", () => {
  test("a mutation that meets an unreachable database is retried until it goes through, once", async () => {
    const retries: MutationRetryInfo[] = [];
    const c = client({ mutationRetry: { onRetry: (r) => retries.push(r) } });
    const { conversationId } = await c.mutation(api.shared.chat.createOrGetConversation, {});
    const content = unique("retried");

    await refuseConnections();
    await terminateAll();
    const sent = c
      .mutation(api.shared.chat.sendMessage, { conversationId, content, messageType: "text" })
      .then((id) => ({ id }), (error: unknown) => ({ error }));
    await vi.waitFor(() => expect(retries.length).toBeGreaterThan(0), { timeout: 30_000 });
    expect(retries[0]!.udfPath).toBe("shared/chat:sendMessage");
    expect(isParleyError(retries[0]!.error, "unavailable")).toBe(true);
    expect(retries[0]!.delayMs).toBeGreaterThan(0);

    await allowConnections();
    expect(await sent).toEqual({ id: expect.any(String) });
    const page = await c.query(api.shared.chat.getMessages, { conversationId, limit: 50 });
    expect(page.messages.filter((m) => m.content === content)).toHaveLength(1);
  }, 90_000);

  test("an abort stops the retries; with retries off, unavailable rejects at once", async () => {
    const retried = new AbortController();
    const c = client({ mutationRetry: { onRetry: () => retried.abort(new Error("given up")) } });
    const off = client({ mutationRetry: false });
    const { conversationId } = await c.mutation(api.shared.chat.createOrGetConversation, {});
    await off.query(api.shared.chat.getUnreadCount);

    await refuseConnections();
    await terminateAll();
    const args = { conversationId, content: unique("aborted"), messageType: "text" as const };
    await expect(c.mutation(api.shared.chat.sendMessage, args, { signal: retried.signal })).rejects.toThrow("given up");
    const err = await off.mutation(api.shared.chat.sendMessage, args).catch((e: unknown) => e);
    expect(isParleyError(err, "unavailable")).toBe(true);
  }, 90_000);

  test("other errors reject at once", async () => {
    const retries: MutationRetryInfo[] = [];
    const c = client({ mutationRetry: { onRetry: (r) => retries.push(r) } });
    const err = await c
      .mutation(api.shared.chat.sendMessage, { conversationId: "conv-does-not-exist", content: "x", messageType: "text" })
      .catch((e: unknown) => e);
    expect(isParleyError(err)).toBe(true);
    expect(isParleyError(err, "unavailable")).toBe(false);
    expect(retries).toEqual([]);
  });
});
