// Guests against a real server: requestGuestToken, a guest's support chat
// and the claim of its conversation by the account it signs in with.

import { afterEach, describe, expect, test, vi } from "vitest";
import { api, createParleyClient, GuestTokenError, requestGuestToken, type ParleyClient } from "../src/index.js";
import { clientFor, IDENTITIES, mintToken, SERVER_URL, unique } from "./helpers.js";

const open: ParleyClient[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

function guestClient(token: string): ParleyClient {
  const c = createParleyClient({ url: SERVER_URL, auth: async () => token, convex: { logger: false } });
  open.push(c);
  return c;
}

describe("guests", () => {
  test("a guest chats with support, and a customer claims its conversation", async () => {
    const guest = await requestGuestToken(SERVER_URL, { name: "Widget visitor" });
    expect(guest.name).toBe("Widget visitor");
    expect(guest.guestId).toMatch(/^guest_/);
    expect(guest.expiresAt).toBeGreaterThan(Date.now());
    const gc = guestClient(guest.token);
    await vi.waitFor(() => expect(gc.identity()?.role).toBe("guest"));

    const { conversationId, conversationType } = await gc.mutation(api.shared.chat.createOrGetConversation, {});
    expect(conversationType).toBe("customer_to_admin");
    const text = unique("guest asks");
    await gc.mutation(api.shared.chat.sendMessage, { conversationId, content: text, messageType: "text" });

    // Support sees it, marked as a guest's conversation.
    const admin = clientFor(IDENTITIES.admin);
    const conv = await admin.query(api.shared.chat.getConversation, { conversationId });
    expect(conv.customerIsGuest).toBe(true);
    expect(conv.customerName).toBe("Widget visitor");

    // Another guest learns nothing of it.
    const other = guestClient((await requestGuestToken(SERVER_URL)).token);
    await expect(other.query(api.shared.chat.getMessages, { conversationId })).rejects.toMatchObject({
      data: { code: "not_found", status: 404 },
    });

    // A fresh customer signs in and claims it.
    const sub = `cust-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const customer = clientFor({ sub, role: "customer", name: "Ada Lovelace" });
    const claim = await customer.mutation(api.shared.chat.claimGuestThreads, { guestToken: guest.token });
    expect(claim.claimedConversationIds).toEqual([conversationId]);
    expect(claim.movedMessages).toBe(1);
    const page = await customer.query(api.shared.chat.getMessages, { conversationId });
    expect(page.messages.map((m) => [m.content, m.senderId])).toEqual([[text, sub]]);
    await expect(gc.query(api.shared.chat.getMessages, { conversationId })).rejects.toMatchObject({ data: { code: "not_found" } });
  });

  test("a bad name is refused, naming the field", async () => {
    const err = await requestGuestToken(SERVER_URL, { name: "x".repeat(101) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GuestTokenError);
    expect(err).toMatchObject({ reason: "invalid", status: 400 });
    expect((err as Error).message).toMatch(/^name /);
  });

  test("a customer's token is no guest token", async () => {
    const customer = clientFor(IDENTITIES.customer);
    const err = await customer
      .mutation(api.shared.chat.claimGuestThreads, { guestToken: await mintToken(IDENTITIES.customer) })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ data: { code: "invalid_argument", status: 400 } });
    expect((err as Error).message).toMatch(/guestToken/);
  });
});
