// The framework-free core against a real server: queries, subscriptions,
// errors, connection state, auth refresh and the upload helper.

import { describe, expect, test, vi } from "vitest";
import { api, checkImage, isParleyError, parleyErrorData, ParleyUploadError, type MessageDoc } from "../src/index.js";
import { clientFor, DEMO, IDENTITIES, mintToken, noisePng, TINY_PNG, unique } from "./helpers.js";

describe("ParleyClient", () => {
  test("connects, queries and reports its connection state", async () => {
    const client = clientFor(IDENTITIES.customer);
    const states: string[] = [];
    client.onConnectionStateChange((s) => states.push(s));
    const settings = await client.query(api.shared.chat.getChatSettings, {});
    expect(settings.allowedImageTypes).toContain("image/png");
    await vi.waitFor(() => expect(client.connectionState()).toBe("connected"));
    expect(states).toContain("connected");
    await client.close();
    expect(client.connectionState()).toBe("disconnected");
  });

  test("function errors carry ParleyErrorData", async () => {
    const client = clientFor(IDENTITIES.customer);
    const err = await client.query(api.shared.chat.getConversation, { conversationId: "conv-does-not-exist" }).catch((e) => e);
    expect(isParleyError(err)).toBe(true);
    expect(isParleyError(err, "not_found")).toBe(true);
    expect(isParleyError(err, "forbidden")).toBe(false);
    expect(parleyErrorData(err)).toMatchObject({ code: "not_found", status: 404 });
    expect(parleyErrorData(new Error("x"))).toBeUndefined();
    // An upload error with data counts too, exactly when parleyErrorData has it.
    const refused = new ParleyUploadError("server", "nope", { code: "invalid_argument", status: 400, error: "nope" });
    expect(isParleyError(refused, "invalid_argument")).toBe(true);
    expect(parleyErrorData(refused)?.code).toBe("invalid_argument");
    const aborted = new ParleyUploadError("aborted", "Upload aborted");
    expect(isParleyError(aborted)).toBe(false);
    expect(parleyErrorData(aborted)).toBeUndefined();
  });

  test("a subscription sees another client's message", async () => {
    const customer = clientFor(IDENTITIES.customer);
    const store = clientFor(IDENTITIES.store);
    const seen: MessageDoc[][] = [];
    customer.onUpdate(api.shared.chat.getMessages, { conversationId: DEMO.conversationId, limit: 10 }, (p) =>
      seen.push(p.messages),
    );
    const content = unique("core hello");
    await store.mutation(api.shared.chat.sendMessage, { conversationId: DEMO.conversationId, content, messageType: "text" });
    await vi.waitFor(() => expect(seen.at(-1)?.some((m) => m.content === content)).toBe(true), { timeout: 10_000 });
  });
});

describe("auth refresh", () => {
  test("a new token is fetched before each token expires: no auth loss, no reconnect, the subscription keeps working", async () => {
    const fetches: { at: number; exp: number; token: string }[] = [];
    const authChanges: boolean[] = [];
    const states: string[] = [];
    const identity = { sub: "cust-refresh-1", role: "customer" as const, name: "Refresh Tester" };
    const claims = (t: string) =>
      JSON.parse(atob(t.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as { iat: number; exp: number };
    const client = clientFor(null, {
      auth: async () => {
        const at = Date.now();
        // Tokens carry no nonce: two minted in the same second (same iat,
        // same exp) are byte-identical, and convex ignores a token identical
        // to the current one. Each mint starts in a new second.
        const last = fetches.at(-1);
        if (last) {
          const lastIat = claims(last.token).iat;
          while (Math.floor(Date.now() / 1000) <= lastIat) await new Promise((r) => setTimeout(r, 50));
        }
        const token = await mintToken({ ...identity, ttl: "8s" });
        fetches.push({ at, exp: claims(token).exp * 1000, token });
        return token;
      },
      onAuthChange: (ok) => authChanges.push(ok),
      authRefreshLeewaySeconds: 4,
    });
    client.onConnectionStateChange((s) => states.push(s));
    const { conversationId } = await client.mutation(api.shared.chat.createOrGetConversation, {});
    const seen: string[] = [];
    client.onUpdate(api.shared.chat.getMessages, { conversationId, limit: 5 }, (p) => {
      seen.push(...p.messages.map((m) => m.content));
    });
    // Two refreshes (8s tokens, refreshed 4s before exp): three fetches.
    await vi.waitFor(() => expect(fetches.length).toBeGreaterThanOrEqual(3), { timeout: 20_000, interval: 100 });
    // Past the first token's expiry, the session still works as the same user.
    await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(fetches[0]!.exp + 500), { timeout: 10_000, interval: 100 });
    const admin = clientFor(IDENTITIES.admin);
    const content = unique("after refresh");
    await admin.mutation(api.shared.chat.sendMessage, { conversationId, content, messageType: "text" });
    await vi.waitFor(() => expect(seen).toContain(content), { timeout: 10_000 });
    const mine = unique("mine after refresh");
    await client.mutation(api.shared.chat.sendMessage, { conversationId, content: mine, messageType: "text" });
    await vi.waitFor(() => expect(seen).toContain(mine), { timeout: 10_000 });

    // Every refresh came before the previous token expired, with a new token.
    for (let i = 1; i < fetches.length; i++) {
      expect(fetches[i]!.at, `fetch ${i} before token ${i - 1} expired`).toBeLessThan(fetches[i - 1]!.exp);
      expect(fetches[i]!.token).not.toBe(fetches[i - 1]!.token);
    }
    expect(authChanges).not.toContain(false);
    expect(authChanges).toContain(true);
    expect(states).not.toContain("disconnected");
    expect(client.connectionDetails().connectionCount).toBe(1);
  });
});

describe("uploadImage", () => {
  function counting(client: ReturnType<typeof clientFor>) {
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    const mutationSpy = vi.spyOn(client.convex, "mutation");
    return {
      requests: () => fetchSpy.mock.calls.length + mutationSpy.mock.calls.length,
      restore: () => {
        fetchSpy.mockRestore();
        mutationSpy.mockRestore();
      },
    };
  }

  test("rejects an oversize file before any request", async () => {
    const client = clientFor(IDENTITIES.customer);
    const { maxImageSizeMB } = await client.query(api.shared.chat.getChatSettings, {});
    const big = new Uint8Array(maxImageSizeMB * 1024 * 1024 + 1);
    big.set(TINY_PNG.subarray(0, 16));
    const spy = counting(client);
    try {
      const err = await client.uploadImage(new Blob([big], { type: "image/png" })).catch((e) => e);
      expect(err).toBeInstanceOf(ParleyUploadError);
      expect(err.reason).toBe("size");
      expect(err.message).toBe(`Image size exceeds ${maxImageSizeMB}MB limit`);
      expect(spy.requests()).toBe(0);
    } finally {
      spy.restore();
    }
  });

  test("rejects a file of the wrong type before any request, whatever type it declares", async () => {
    const client = clientFor(IDENTITIES.customer);
    const spy = counting(client);
    try {
      const text = await client.uploadImage(new Blob(["hello"], { type: "text/plain" })).catch((e) => e);
      expect(text).toBeInstanceOf(ParleyUploadError);
      expect(text.reason).toBe("type");
      const pdf = await client.uploadImage(new Blob(["%PDF-1.7 not an image"], { type: "image/png" })).catch((e) => e);
      expect(pdf.reason).toBe("type");
      expect(spy.requests()).toBe(0);
    } finally {
      spy.restore();
    }
  });

  test("uploads a PNG and the storageId attaches to a message", async () => {
    const client = clientFor(IDENTITIES.customer);
    const progress: number[] = [];
    const { storageId } = await client.uploadImage(new Blob([TINY_PNG], { type: "image/png" }), {
      onProgress: (p) => progress.push(p.fraction),
    });
    expect(storageId).toMatch(/\S/);
    expect(progress[0]).toBe(0);
    expect(progress.at(-1)).toBe(1);
    const caption = unique("a pixel");
    const messageId = await client.mutation(api.shared.chat.sendMessage, {
      conversationId: DEMO.conversationId,
      content: caption,
      messageType: "image",
      imageAttachment: { fileId: storageId, fileName: "pixel.png" },
    });
    const page = await client.query(api.shared.chat.getMessages, { conversationId: DEMO.conversationId, limit: 20 });
    const msg = page.messages.find((m) => m._id === messageId);
    expect(msg?.messageType).toBe("image");
    expect(msg?.imageAttachment?.fileId).toBe(storageId);
    expect(msg?.imageAttachment?.url).toMatch(/^http/);
  });

  test("the size limit is maxImageSizeMB MiB: exactly that passes, one byte more fails (as the server counts)", async () => {
    const client = clientFor(IDENTITIES.customer);
    const settings = await client.query(api.shared.chat.getChatSettings, {});
    const limit = settings.maxImageSizeMB * 2 ** 20;
    const png = (size: number) => {
      const b = new Uint8Array(size);
      b.set(TINY_PNG.subarray(0, 16));
      return new Blob([b], { type: "image/png" });
    };
    await expect(checkImage(png(limit), settings)).resolves.toBe("image/png");
    const err = await checkImage(png(limit + 1), settings).catch((e) => e);
    expect(err).toBeInstanceOf(ParleyUploadError);
    expect(err.reason).toBe("size");
    expect(err.data).toMatchObject({ maxBytes: limit, size: limit + 1 });
  });

  test("a multi-megabyte upload reports progress between 0 and 1 as the body goes out, and 1 only when the server took it", async () => {
    const client = clientFor(IDENTITIES.customer);
    const png = noisePng(900); // ≈2.4 MB
    expect(png.length).toBeGreaterThan(2_000_000);
    const events: { loaded: number; fraction: number }[] = [];
    const { storageId } = await client.uploadImage(new Blob([png], { type: "image/png" }), {
      transport: "fetch",
      onProgress: (p) => events.push({ loaded: p.loaded, fraction: p.fraction }),
    });
    expect(storageId).toMatch(/\S/);
    expect(events[0]!.fraction).toBe(0);
    expect(events.at(-1)!.fraction).toBe(1);
    const between = events.filter((e) => e.fraction > 0 && e.fraction < 1);
    expect(between.length).toBeGreaterThan(1);
    expect(events.filter((e) => e.fraction === 1)).toHaveLength(1);
    for (let i = 1; i < events.length; i++) expect(events[i]!.loaded).toBeGreaterThanOrEqual(events[i - 1]!.loaded);
  });

  test("a refused upload never reports 100%", async () => {
    const client = clientFor(IDENTITIES.customer);
    const fractions: number[] = [];
    // A PNG signature with a broken header: the client's check passes, the server refuses it.
    const broken = new Uint8Array(4096);
    broken.set(TINY_PNG.subarray(0, 8));
    const err = await client
      .uploadImage(new Blob([broken], { type: "image/png" }), { transport: "fetch", onProgress: (p) => fractions.push(p.fraction) })
      .catch((e) => e);
    expect(err).toBeInstanceOf(ParleyUploadError);
    expect(err.reason).toBe("server");
    expect(fractions).not.toContain(1);
  });

  test("aborting during the upload rejects with reason aborted", async () => {
    const client = clientFor(IDENTITIES.customer);
    const ctrl = new AbortController();
    const fractions: number[] = [];
    const err = await client
      .uploadImage(new Blob([noisePng(900)], { type: "image/png" }), {
        transport: "fetch",
        signal: ctrl.signal,
        onProgress: (p) => {
          fractions.push(p.fraction);
          if (p.fraction > 0.2) ctrl.abort();
        },
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(ParleyUploadError);
    expect(err.reason).toBe("aborted");
    expect(fractions.some((f) => f > 0.2 && f < 1)).toBe(true);
    expect(fractions).not.toContain(1);
  });

  test("aborting before the upload starts makes no upload URL", async () => {
    const client = clientFor(IDENTITIES.customer);
    await client.chatSettings(); // connected, settings cached
    const mutation = vi.spyOn(client.convex, "mutation");
    try {
      const ctrl = new AbortController();
      const pending = client.uploadImage(new Blob([TINY_PNG], { type: "image/png" }), { signal: ctrl.signal });
      ctrl.abort(); // while the settings and the file's type are being read
      const err = await pending.catch((e) => e);
      expect(err.reason).toBe("aborted");
      expect(mutation).not.toHaveBeenCalled();
    } finally {
      mutation.mockRestore();
    }
  });

  test("an aborted upload rejects with reason aborted", async () => {
    const client = clientFor(IDENTITIES.customer);
    const ctrl = new AbortController();
    ctrl.abort();
    const err = await client.uploadImage(new Blob([TINY_PNG], { type: "image/png" }), { signal: ctrl.signal }).catch((e) => e);
    expect(err.reason).toBe("aborted");
  });
});
