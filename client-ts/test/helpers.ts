// Test helpers: tokens minted by the real server's `parley token`, clients
// that are closed after each test, and a few demo ids (schema/demo.go).

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, inject } from "vitest";
import { createParleyClient, type ParleyClient, type ParleyClientOptions } from "../src/index.js";

const run = promisify(execFile);

export const SERVER_URL = inject("parleyUrl");

export const DEMO = {
  conversationId: "conv123456789",
  customerId: "cust123456789",
  customerName: "John Doe",
  staffId: "user123456789",
  storeId: "store123456789",
  orderId: "order123456789",
  adminId: "admin123456789",
};

export interface TokenOptions {
  sub: string;
  role: "customer" | "store" | "admin";
  name?: string;
  storeId?: string;
  /** A Go duration, e.g. "10s". Default 1h. */
  ttl?: string;
}

/** A JWT signed with the test server's dev secret. */
export async function mintToken(o: TokenOptions): Promise<string> {
  const args = ["token", "--data", inject("parleyData"), "--sub", o.sub, "--role", o.role, "--ttl", o.ttl ?? "1h"];
  if (o.name) args.push("--name", o.name);
  if (o.storeId) args.push("--store-id", o.storeId);
  const { stdout } = await run(inject("parleyBin"), args);
  return stdout.trim();
}

export const IDENTITIES = {
  customer: { sub: DEMO.customerId, role: "customer", name: DEMO.customerName },
  store: { sub: DEMO.staffId, role: "store", storeId: DEMO.storeId, name: "Pizza Palace Support" },
  admin: { sub: DEMO.adminId, role: "admin", name: "Parley Support" },
} satisfies Record<string, TokenOptions>;

const open: ParleyClient[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

/** A client for identity (a fresh token per fetch), closed after the test. */
export function clientFor(identity: TokenOptions | null, options: Partial<ParleyClientOptions> = {}): ParleyClient {
  const c = createParleyClient({
    url: SERVER_URL,
    ...(identity ? { auth: () => mintToken(identity) } : {}),
    convex: { logger: false },
    ...options,
  });
  open.push(c);
  return c;
}

/** A unique string, to find a test's own message among others. */
export function unique(label: string): string {
  return `${label} ${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A valid 1×1 PNG. */
export const TINY_PNG = Uint8Array.from(
  atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="),
  (ch) => ch.charCodeAt(0),
);
