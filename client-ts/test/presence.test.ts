// Presence: the heartbeat's timing on fake timers, and two tabs of one
// agent against the real server, watched live by a customer.

import { afterEach, describe, expect, test, vi } from "vitest";
import { api, PresenceHeartbeat, type HeartbeatArgs, type PresenceDoc } from "../src/index.js";
import { clientFor, DEMO, IDENTITIES } from "./helpers.js";

describe("PresenceHeartbeat", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  test("beats at once, then every interval (the server's once it answers), and at once when idle changes", async () => {
    vi.useFakeTimers();
    const sent: { at: number; args: HeartbeatArgs }[] = [];
    const start = Date.now();
    const hb = new PresenceHeartbeat((args) => {
      sent.push({ at: Date.now() - start, args });
      return Promise.resolve({ status: args.idle ? "away" : "online", ttlMs: 3000, intervalMs: 1000 });
    });
    hb.start();
    expect(sent).toEqual([{ at: 0, args: { idle: false } }]);
    await vi.advanceTimersByTimeAsync(3500); // the server asked for 1s
    expect(sent.map((s) => s.at)).toEqual([0, 1000, 2000, 3000]);
    hb.setIdle(true);
    expect(sent.at(-1)).toEqual({ at: 3500, args: { idle: true } });
    hb.setIdle(true);
    expect(sent).toHaveLength(5);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent.at(-1)).toEqual({ at: 4500, args: { idle: true } });
    hb.dispose();
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent).toHaveLength(6);
  });

  test("a failing send does not stop it", async () => {
    vi.useFakeTimers();
    let calls = 0;
    const hb = new PresenceHeartbeat(
      () => {
        calls++;
        return Promise.reject(new Error("rate limited"));
      },
      { intervalMs: 500 },
    );
    hb.start();
    await vi.advanceTimersByTimeAsync(1600);
    expect(calls).toBe(4);
    hb.dispose();
  });
});

describe("startPresence", () => {
  test("an agent with two tabs stays online until both close", async () => {
    const watcher = clientFor(IDENTITIES.customer);
    const seen: PresenceDoc[][] = [];
    watcher.onUpdate(api.shared.support.getPresence, { userIds: [DEMO.adminId] }, (p) => seen.push(p));
    const now = () => seen.at(-1)?.[0];
    await vi.waitFor(() => expect(now()?.status).toBe("offline"), { timeout: 10_000 });

    const one = clientFor(IDENTITIES.admin);
    const two = clientFor(IDENTITIES.admin);
    one.startPresence();
    const hb = two.startPresence();
    await vi.waitFor(() => expect(now()).toMatchObject({ status: "online", sessions: 2 }), { timeout: 10_000 });
    hb.setIdle(true);
    await one.close();
    await vi.waitFor(() => expect(now()).toMatchObject({ status: "away", sessions: 1 }), { timeout: 10_000 });
    await two.close();
    await vi.waitFor(() => expect(now()).toMatchObject({ status: "offline", sessions: 0 }), { timeout: 10_000 });
  });
});
