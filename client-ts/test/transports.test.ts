// The sync protocol over SSE and over long polling against the real
// server: subscriptions, live updates and read-your-writes behave as over
// the WebSocket, and "auto" falls back to SSE behind a proxy that refuses
// the WebSocket Upgrade, and stays there for reconnects.

import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import WebSocket from "ws";
import { api, type MessageDoc } from "../src/index.js";
import { readEvents, transportURL } from "../src/transports.js";
import { clientFor, DEMO, IDENTITIES, SERVER_URL, unique } from "./helpers.js";

const messagesArgs = { conversationId: DEMO.conversationId, limit: 10 };

describe.each(["sse", "poll"] as const)("transport %s", (transport) => {
  test("subscribes, sees another client's message live, and a mutation's write when it resolves", async () => {
    const customer = clientFor(IDENTITIES.customer, { transport });
    const store = clientFor(IDENTITIES.store); // over convex's own WebSocket
    const seen: MessageDoc[][] = [];
    const sub = customer.onUpdate(api.shared.chat.getMessages, messagesArgs, (p) => seen.push(p.messages));
    await vi.waitFor(() => expect(seen.length).toBeGreaterThan(0), { timeout: 10_000 });
    expect(customer.transport()).toBe(transport);
    expect(customer.connectionState()).toBe("connected");

    const fromStore = unique(`${transport} from the store`);
    await store.mutation(api.shared.chat.sendMessage, { conversationId: DEMO.conversationId, content: fromStore, messageType: "text" });
    await vi.waitFor(() => expect(seen.at(-1)?.some((m) => m.content === fromStore)).toBe(true), { timeout: 10_000 });

    // Read-your-writes: when the mutation resolves, the subscription has it.
    const mine = unique(`${transport} from the customer`);
    await customer.mutation(api.shared.chat.sendMessage, { conversationId: DEMO.conversationId, content: mine, messageType: "text" });
    expect(sub.getCurrentValue()?.messages.some((m) => m.content === mine)).toBe(true);

    // A one-shot query and a failing one, as over the WebSocket.
    const settings = await customer.query(api.shared.chat.getChatSettings, {});
    expect(settings.allowedImageTypes).toContain("image/png");
    await expect(customer.query(api.shared.chat.getConversation, { conversationId: "conv-does-not-exist" })).rejects.toThrow();
  });
});

/**
 * A proxy in front of the shared server that passes plain HTTP (streamed
 * both ways) and refuses every WebSocket Upgrade, as some corporate
 * proxies do. upgrades counts the refused handshakes.
 */
class UpgradeBlockingProxy {
  upgrades = 0;
  private server = http.createServer((req, res) => {
    const target = new URL(SERVER_URL);
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      res.flushHeaders();
      r.pipe(res);
    });
    up.on("error", () => res.destroy());
    res.on("close", () => up.destroy());
    req.pipe(up);
  });

  constructor() {
    this.server.on("upgrade", (_req, socket) => {
      this.upgrades++;
      socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe("transport auto", () => {
  const proxy = new UpgradeBlockingProxy();
  let url: string;
  beforeAll(async () => {
    url = await proxy.start();
  });
  afterAll(() => proxy.stop());

  test("uses the WebSocket where it opens", async () => {
    const c = clientFor(IDENTITIES.customer, { webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket });
    await c.query(api.shared.chat.getChatSettings, {});
    expect(c.transport()).toBe("websocket");
  });

  test("falls back to SSE when a proxy refuses the Upgrade, and reconnects over SSE without trying the WebSocket again", async () => {
    const c = clientFor(IDENTITIES.customer, { url, webSocketConstructor: WebSocket as unknown as typeof globalThis.WebSocket });
    const seen: MessageDoc[][] = [];
    c.onUpdate(api.shared.chat.getMessages, messagesArgs, (p) => seen.push(p.messages));
    await vi.waitFor(() => expect(seen.length).toBeGreaterThan(0), { timeout: 10_000 });
    expect(c.transport()).toBe("sse");
    expect(proxy.upgrades).toBe(1);

    const content = unique("auto fallback");
    await c.mutation(api.shared.chat.sendMessage, { conversationId: DEMO.conversationId, content, messageType: "text" });
    expect(seen.at(-1)?.some((m) => m.content === content)).toBe(true);

    // A dropped connection reconnects over the transport that worked.
    const manager = (c.convex.client as unknown as { webSocketManager: { closeAndReconnect(reason: string): void } }).webSocketManager;
    manager.closeAndReconnect("test");
    await vi.waitFor(() => expect(c.transport()).toBe("sse"), { timeout: 10_000 });
    const after = unique("after reconnect");
    await c.mutation(api.shared.chat.sendMessage, { conversationId: DEMO.conversationId, content: after, messageType: "text" });
    expect(seen.at(-1)?.some((m) => m.content === after)).toBe(true);
    expect(proxy.upgrades).toBe(1);
  });
});

describe("transport helpers", () => {
  test("transportURL maps convex's sync URL to the transport's endpoint, keeping the query", () => {
    expect(transportURL("ws://h:1/api/1.48.0/sync?parleyStatus=1", "sse-sync").toString()).toBe(
      "http://h:1/api/1.48.0/sse-sync?parleyStatus=1",
    );
    expect(transportURL("wss://h/api/1.48.0/sync", "poll-sync").toString()).toBe("https://h/api/1.48.0/poll-sync");
  });

  test("readEvents parses events split anywhere, CRLF or LF, multi-line data, comments", async () => {
    const text = 'event: connection\r\ndata: {"a":1}\r\n\r\n: ping\n\ndata: one\ndata: two\n\nevent: close\ndata: {}\n\n';
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream<Uint8Array>({
      start(ctrl) {
        for (let i = 0; i < bytes.length; i += 5) ctrl.enqueue(bytes.slice(i, i + 5));
        ctrl.close();
      },
    });
    const got: [string, string][] = [];
    await readEvents(body, (e, d) => got.push([e, d]));
    expect(got).toEqual([
      ["connection", '{"a":1}'],
      ["message", "one\ntwo"],
      ["close", "{}"],
    ]);
  });
});
