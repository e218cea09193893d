// Messages queued offline survive the rate limiter: convex's client
// replays every mutation it held all at once on reconnect. Against a
// server whose limit lets those over the burst wait for their tokens (the
// default), all arrive, in order; against one that refuses at once
// (--rate-limit-wait 0), the client sends the refused ones again after
// retryAfterMs, one at a time in order, and still all arrive in order.

import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from "vitest";
import WebSocket from "ws";
import { api, createParleyClient, isParleyError, type MutationRetryInfo, type ParleyClient, type ParleyClientOptions } from "../src/index.js";
import { DEMO, IDENTITIES, mintToken, unique } from "./helpers.js";
import { startParley, type RunningServer } from "./server.js";

/** 20 messages a second, bursts of 10: 100 messages take 4.5 s past the burst. */
const LIMITS = ["--message-rate", "20", "--message-burst", "10"];

const open: ParleyClient[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

function client(server: RunningServer, options: Partial<ParleyClientOptions> = {}): ParleyClient {
  const c = createParleyClient({
    url: server.url,
    auth: () => mintToken(IDENTITIES.customer, server.data),
    webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket,
    convex: { logger: false },
    ...options,
  });
  open.push(c);
  return c;
}

/**
 * Sends n messages while c's socket is down, then lets it reconnect; returns
 * the contents sent, in the order sent, and the contents of the
 * conversation's messages with that label, in the order they were written.
 */
async function replay(c: ParleyClient, n: number): Promise<{ sent: string[]; stored: string[] }> {
  await c.query(api.shared.chat.getUnreadCount); // connected and authenticated
  const wsm = (c.convex.client as unknown as { webSocketManager: { stop(): Promise<void>; tryRestart(): void } })
    .webSocketManager;
  await wsm.stop();
  const label = unique("offline");
  const sent = Array.from({ length: n }, (_, i) => `${label} #${i}`);
  const sends = sent.map((content) =>
    c.mutation(api.shared.chat.sendMessage, { conversationId: DEMO.conversationId, content, messageType: "text" }),
  );
  wsm.tryRestart();
  const ids = await Promise.all(sends);
  expect(new Set(ids).size).toBe(n);
  const page = await c.query(api.shared.chat.getMessages, { conversationId: DEMO.conversationId, limit: 100 });
  const stored = page.messages
    .filter((m) => m.content.startsWith(label))
    .sort((a, b) => a._creationTime - b._creationTime)
    .map((m) => m.content);
  return { sent, stored };
}

describe("offline queue replay, the server waiting for tokens (its default)", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startParley(inject("parleyBin"), LIMITS);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  test("100 messages sent while offline all arrive, in order, none refused", async () => {
    const retries: MutationRetryInfo[] = [];
    const c = client(server, { mutationRetry: { onRetry: (r) => retries.push(r) } });
    const { sent, stored } = await replay(c, 100);
    expect(stored).toEqual(sent);
    expect(retries).toEqual([]); // the server let them wait; nothing was refused
  }, 90_000);
});

describe("offline queue replay, the server refusing at once", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startParley(inject("parleyBin"), [...LIMITS, "--rate-limit-wait", "0"]);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  test("the client sends refused messages again after retryAfterMs, in order, until all arrive", async () => {
    const retries: MutationRetryInfo[] = [];
    const c = client(server, { mutationRetry: { onRetry: (r) => retries.push(r) } });
    const { sent, stored } = await replay(c, 40);
    expect(stored).toEqual(sent);
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.every((r) => isParleyError(r.error, "rate_limited") && r.delayMs > 0)).toBe(true);
  }, 90_000);

  test("with retries off a refused message rejects with rate_limited", async () => {
    const c = client(server, { mutationRetry: false });
    await c.query(api.shared.chat.getUnreadCount);
    const results = await Promise.allSettled(
      Array.from({ length: 15 }, (_, i) =>
        c.mutation(api.shared.chat.sendMessage, { conversationId: DEMO.conversationId, content: `no retry ${i}`, messageType: "text" }),
      ),
    );
    const refused = results.filter((r) => r.status === "rejected");
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect(isParleyError((r as PromiseRejectedResult).reason, "rate_limited")).toBe(true);
  }, 60_000);
});
