// The typing debounce, on fake timers: continuous typing sends at most one
// update per two seconds, and a pause sends one stop.

import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { TypingNotifier } from "../src/index.js";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

test("continuous typing sends at most one update every two seconds, and a pause sends a stop", () => {
  const sent: { at: number; isTyping: boolean }[] = [];
  const start = Date.now();
  const n = new TypingNotifier((isTyping) => sent.push({ at: Date.now() - start, isTyping }));
  // Ten seconds of a keystroke every 150ms.
  for (let t = 0; t < 10_000; t += 150) {
    n.input();
    vi.advanceTimersByTime(150);
  }
  const typing = sent.filter((s) => s.isTyping);
  expect(typing[0]!.at).toBe(0);
  for (let i = 1; i < typing.length; i++) {
    expect(typing[i]!.at - typing[i - 1]!.at).toBeGreaterThanOrEqual(2000);
  }
  expect(typing.length).toBeLessThanOrEqual(6);
  expect(sent.some((s) => !s.isTyping)).toBe(false);
  // The pause: one stop, two seconds after the last keystroke.
  vi.advanceTimersByTime(5000);
  const stops = sent.filter((s) => !s.isTyping);
  expect(stops).toHaveLength(1);
  expect(sent.at(-1)!.isTyping).toBe(false);
  // Typing again starts at once.
  n.input();
  expect(sent.at(-1)!.isTyping).toBe(true);
  n.dispose();
  expect(sent.at(-1)!.isTyping).toBe(false);
  n.input();
  expect(sent.at(-1)!.isTyping).toBe(false);
});

test("stop sends nothing when not typing; reset forgets without sending", () => {
  const send = vi.fn();
  const n = new TypingNotifier(send, { throttleMs: 1000, idleMs: 500 });
  n.stop();
  expect(send).not.toHaveBeenCalled();
  n.input();
  expect(send).toHaveBeenLastCalledWith(true);
  n.reset();
  vi.advanceTimersByTime(1000);
  expect(send).toHaveBeenCalledTimes(1);
  n.input();
  expect(send).toHaveBeenCalledTimes(2);
});

test("a failing send is swallowed", async () => {
  const n = new TypingNotifier(() => Promise.reject(new Error("rate limited")));
  n.input();
  n.stop();
  await vi.runAllTimersAsync();
});
