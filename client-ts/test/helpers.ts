// Test helpers: tokens minted by the real server's `parley token`, clients
// that are closed after each test, and a few demo ids (schema/demo.go).

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import zlib from "node:zlib";
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

/** A JWT signed with the dev secret of the test server (or of the one whose data directory is data). */
export async function mintToken(o: TokenOptions, data: string = inject("parleyData")): Promise<string> {
  const args = ["token", "--data", data, "--sub", o.sub, "--role", o.role, "--ttl", o.ttl ?? "1h"];
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

/**
 * A valid RGB PNG of side×side noise pixels, stored without compression
 * (deflate level 0), so its size is about 3·side² bytes.
 */
export function noisePng(side: number): Uint8Array<ArrayBuffer> {
  const row = 1 + side * 3;
  const raw = Buffer.alloc(row * side);
  let x = 0x2545f491;
  for (let i = 0; i < raw.length; i++) {
    if (i % row === 0) continue; // filter byte 0 (none)
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    raw[i] = x & 0xff;
  }
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(raw, { level: 0 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
  const out = new Uint8Array(png.length);
  out.set(png);
  return out;
}
