// Shared helpers for the end-to-end tests. The Go harness (e2e/e2e_test.go)
// starts a Parley server with the demo data and passes its address and a few
// signed tokens through the environment.

import assert from "node:assert/strict";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { ConvexError } from "convex/values";

export { anyApi as api, ConvexError };

/** Reads a required environment variable. */
function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run these tests through \`go test ./e2e/\` (or \`make test\`)`);
  }
  return v;
}

export const SERVER_URL = env("PARLEY_URL");
export const TOKENS = {
  customer: env("PARLEY_TOKEN_CUSTOMER"), // cust123456789, John Doe
  store: env("PARLEY_TOKEN_STORE"), // user123456789, store store123456789
  other: env("PARLEY_TOKEN_OTHER"), // cust555555555
  admin: env("PARLEY_TOKEN_ADMIN"), // admin123456789, Parley Support
  bad: env("PARLEY_TOKEN_BAD"), // signed with the wrong secret
};

// Demo ids (schema/demo.go).
export const DEMO = {
  customerId: "cust123456789",
  customerName: "John Doe",
  staffId: "user123456789",
  storeId: "store123456789",
  orderId: "order123456789",
};

/** The default wait bound, well under the harness's overall timeout. */
export const WAIT_MS = 10_000;

/**
 * Resolves once predicate() returns a truthy value (and resolves with it);
 * rejects after ms naming message, or at once if predicate throws. The
 * predicate is polled every 10ms.
 */
export async function waitFor(predicate, ms = WAIT_MS, message = "condition") {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await predicate();
    if (v) return v;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${ms}ms waiting for ${message}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Rejects if promise has not settled within ms. */
export async function within(promise, ms = WAIT_MS, what = "operation") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms}ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens ConvexClients for one test and closes them all in close(), so the
 * test process can exit. Use as:
 *
 *   const clients = new Clients(); t.after(() => clients.close());
 */
export class Clients {
  #open = [];

  /** A WebSocket client; token (a string) is installed with setAuth. */
  ws(token, onAuthChange) {
    const c = new ConvexClient(SERVER_URL);
    this.#open.push(c);
    if (token !== undefined) c.setAuth(async () => token, onAuthChange);
    return c;
  }

  /** An HTTP client, authenticated when token is given. */
  http(token) {
    const c = new ConvexHttpClient(SERVER_URL);
    if (token !== undefined) c.setAuth(token);
    return c;
  }

  async close() {
    const open = this.#open.splice(0);
    await Promise.all(open.map((c) => c.close()));
  }
}

/**
 * Subscribes with client.onUpdate and records every value and error, so a
 * test can wait for a value it expects.
 */
export function subscribe(client, query, args) {
  const sub = { values: [], errors: [], latest: undefined };
  sub.unsubscribe = client.onUpdate(
    query,
    args,
    (v) => {
      sub.values.push(v);
      sub.latest = v;
    },
    (e) => sub.errors.push(e),
  );
  /** Waits until the latest value satisfies pred; returns that value. */
  sub.until = async (pred, ms = WAIT_MS, message = "a matching subscription value") => {
    const found = await waitFor(
      () => {
        if (sub.errors.length > 0) throw sub.errors[sub.errors.length - 1];
        // Wrapped: a matching value may itself be falsy (an unread count of 0).
        return sub.values.length > 0 && pred(sub.latest) ? { value: sub.latest } : undefined;
      },
      ms,
      message,
    );
    return found.value;
  };
  return sub;
}

/** John's conversation with the demo store about the demo order. */
export async function demoConversation(client) {
  const ref = await within(
    client.mutation(anyApi.shared.chat.createOrGetConversation, {
      orderId: DEMO.orderId,
      storeId: DEMO.storeId,
    }),
    WAIT_MS,
    "createOrGetConversation",
  );
  assert.equal(typeof ref.conversationId, "string");
  return ref.conversationId;
}

/** Text that no other test (or run) sends. */
export function unique(label) {
  return `${label} ${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Asserts that promise rejects with a ConvexError whose data includes
 * expected; returns the error.
 */
export async function rejectsWithData(promise, expected, what = "call") {
  let err;
  try {
    await within(promise, WAIT_MS, what);
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what} should have been rejected`);
  assert.ok(
    err instanceof ConvexError,
    `${what} should reject with a ConvexError, got ${err?.constructor?.name}: ${err?.message}`,
  );
  for (const [k, v] of Object.entries(expected)) {
    assert.deepEqual(err.data?.[k], v, `${what}: error data field ${k} (data ${JSON.stringify(err.data)})`);
  }
  return err;
}
