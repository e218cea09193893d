// React Native concerns, in plain Node (no window, no document, like React
// Native): the entries import without DOM globals, and an injected
// foreground signal reconnects at once instead of waiting out the backoff.

import { expect, test, vi } from "vitest";
import { api, appStateForegroundSignal, type ForegroundSignal } from "../src/index.js";
import { clientFor, IDENTITIES } from "./helpers.js";

test("the entries import with no DOM globals", async () => {
  expect(typeof (globalThis as { document?: unknown }).document).toBe("undefined");
  expect(typeof (globalThis as { window?: unknown }).window).toBe("undefined");
  const react = await import("../src/react/index.js");
  const vue = await import("../src/vue/index.js");
  expect(react.useChat).toBeTypeOf("function");
  expect(vue.useChat).toBeTypeOf("function");
});

interface SocketManager {
  socket: { state: string };
  scheduledReconnect: unknown;
  closeAndReconnect(reason: string): void;
}

test("a foreground signal reconnects a dropped connection at once, and is released on close", async () => {
  let onForeground: (() => void) | undefined;
  const release = vi.fn();
  const signal: ForegroundSignal = (cb) => {
    onForeground = cb;
    return release;
  };
  const client = clientFor(IDENTITIES.customer, { foregroundSignal: signal });
  expect(onForeground).toBeTypeOf("function");
  await client.query(api.shared.chat.getUnreadCount);
  await vi.waitFor(() => expect(client.connectionState()).toBe("connected"));

  // Drop the socket the way a backgrounded app loses it; convex schedules a
  // reconnect after a backoff. (WebSocketManager is convex internals.)
  const wsm = (client.convex.client as unknown as { webSocketManager: SocketManager }).webSocketManager;
  wsm.closeAndReconnect("test: app went to the background");
  expect(wsm.socket.state).toBe("disconnected");
  expect(client.connectionState()).toBe("disconnected");
  expect(wsm.scheduledReconnect).not.toBeNull();

  onForeground!();
  // At once: the scheduled reconnect is replaced by a connection attempt.
  expect(wsm.scheduledReconnect).toBeNull();
  expect(wsm.socket.state).toBe("connecting");
  await vi.waitFor(() => expect(client.connectionState()).toBe("connected"), { timeout: 10_000 });
  await client.query(api.shared.chat.getChatSettings);

  await client.close();
  expect(release).toHaveBeenCalledTimes(1);
});

test("a foreground signal replaces a connection that looks open but has gone silent, and leaves a live one alone", async () => {
  let onForeground: (() => void) | undefined;
  const client = clientFor(IDENTITIES.customer, {
    foregroundSignal: (cb) => {
      onForeground = cb;
      return () => {};
    },
    staleConnectionMs: 5_000,
  });
  const heard = () => (client as unknown as { lastHeardAt: number }).lastHeardAt;
  const created = heard();
  await new Promise((r) => setTimeout(r, 20));
  await client.query(api.shared.chat.getUnreadCount);
  expect(heard()).toBeGreaterThan(created); // every server message counts
  await vi.waitFor(() => expect(client.connectionState()).toBe("connected"));
  const wsm = (client.convex.client as unknown as { webSocketManager: SocketManager }).webSocketManager;
  expect(client.connectionDetails().connectionCount).toBe(1);

  // Live (heard from just now): nothing happens.
  onForeground!();
  expect(wsm.socket.state).toBe("ready");
  expect(client.connectionDetails().connectionCount).toBe(1);

  // Silent for longer than staleConnectionMs, as after a long background
  // (the socket may be half-open): replaced at once.
  (client as unknown as { lastHeardAt: number }).lastHeardAt = Date.now() - 6_000;
  onForeground!();
  expect(wsm.socket.state).toBe("connecting");
  expect(wsm.scheduledReconnect).toBeNull();
  await vi.waitFor(() => expect(client.connectionDetails().connectionCount).toBe(2), { timeout: 10_000 });
  await vi.waitFor(() => expect(client.connectionState()).toBe("connected"), { timeout: 10_000 });
  await client.query(api.shared.chat.getChatSettings);
});

test("appStateForegroundSignal fires on AppState 'active' only", () => {
  const listeners: ((s: string) => void)[] = [];
  const remove = vi.fn();
  const AppState = {
    addEventListener: (_: "change", l: (s: string) => void) => {
      listeners.push(l);
      return { remove };
    },
  };
  const onForeground = vi.fn();
  const stop = appStateForegroundSignal(AppState)(onForeground);
  listeners.forEach((l) => l("background"));
  listeners.forEach((l) => l("inactive"));
  expect(onForeground).not.toHaveBeenCalled();
  listeners.forEach((l) => l("active"));
  expect(onForeground).toHaveBeenCalledTimes(1);
  stop();
  expect(remove).toHaveBeenCalledTimes(1);
});
