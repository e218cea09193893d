// Issue 17's messaging features through the official ConvexClient, live:
// edits and their history, delivery status, participants, search, inbox
// filters and pages, direct channels, store ↔ support threads, meetings.

import { test } from "node:test";
import assert from "node:assert/strict";
import { api, Clients, DEMO, TOKENS, demoConversation, rejectsWithData, subscribe, unique, within } from "./helpers.mjs";

const chat = api.shared.chat;

test("an edit reaches the other side's subscription, with editedAt and its versions", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const customer = clients.ws(TOKENS.customer);
  const store = clients.ws(TOKENS.store);
  const conversationId = await demoConversation(customer);
  const sub = subscribe(store, chat.getMessages, { conversationId, limit: 20 });

  const first = unique("Two large pizzas");
  const messageId = await within(customer.mutation(chat.sendMessage, { conversationId, content: first, messageType: "text" }));
  await sub.until((p) => p.messages.some((m) => m._id === messageId), undefined, "the message at the store");
  const second = unique("Three large pizzas");
  await within(customer.mutation(chat.editMessage, { messageId, content: second }), undefined, "editMessage");
  const page = await sub.until(
    (p) => p.messages.some((m) => m._id === messageId && m.content === second),
    undefined,
    "the edit at the store",
  );
  const edited = page.messages.find((m) => m._id === messageId);
  assert.equal(typeof edited.editedAt, "number");
  const history = await within(store.query(chat.getMessageHistory, { messageId }), undefined, "getMessageHistory");
  assert.deepEqual(
    history.versions.map((v) => v.content),
    [first, second],
  );
  // Only the sender edits.
  await rejectsWithData(store.mutation(chat.editMessage, { messageId, content: "no" }), { status: 403 }, "editMessage by the store");
});

test("delivery status goes sent → delivered → read in the sender's subscription; participants list both", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const customer = clients.ws(TOKENS.customer);
  const store = clients.ws(TOKENS.store);
  const conversationId = await demoConversation(customer);
  const sub = subscribe(customer, chat.getMessages, { conversationId, limit: 20 });
  const participants = subscribe(customer, chat.getParticipants, { conversationId });

  const messageId = await within(
    customer.mutation(chat.sendMessage, { conversationId, content: unique("Is it ready?"), messageType: "text" }),
  );
  const status = (p) => p.messages.find((m) => m._id === messageId)?.status;
  await sub.until((p) => status(p) === "sent", undefined, "sent");
  const ack = await within(store.mutation(chat.markDelivered, { conversationId, upToMessageId: messageId }), undefined, "markDelivered");
  assert.equal(ack.moved, true);
  await sub.until((p) => status(p) === "delivered", undefined, "delivered");
  // A second acknowledgement of the same message writes nothing.
  assert.equal((await within(store.mutation(chat.markDelivered, { conversationId, upToMessageId: messageId }))).moved, false);
  await within(store.mutation(chat.markMessagesAsRead, { conversationId }), undefined, "markMessagesAsRead");
  await sub.until((p) => status(p) === "read", undefined, "read");

  const list = await participants.until(
    (ps) => ps.some((p) => p.userId === DEMO.staffId && typeof p.lastDeliveredAt === "number"),
    undefined,
    "the store's staff among the participants, with their delivery time",
  );
  const me = list.find((p) => p.userId === DEMO.customerId);
  assert.equal(me.role, "customer");
  assert.equal(typeof me.isOnline, "boolean");
  await rejectsWithData(
    store.mutation(chat.markDelivered, { conversationId, upToMessageId: "" }),
    { status: 400, error: "upToMessageId is required" },
    "markDelivered without a message",
  );
});

test("search finds what the caller may see, live; inbox filters and pages", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const customer = clients.ws(TOKENS.customer);
  const other = clients.ws(TOKENS.other);
  const conversationId = await demoConversation(customer);
  const word = `zebra${Date.now().toString(36)}`;
  const sub = subscribe(customer, chat.searchMessages, { query: word, limit: 10 });
  await sub.until((r) => r.messages.length === 0, undefined, "nothing yet");
  const messageId = await within(
    customer.mutation(chat.sendMessage, { conversationId, content: `A ${word} topping`, messageType: "text" }),
  );
  const found = await sub.until((r) => r.messages.length === 1, undefined, "the new message found");
  assert.equal(found.messages[0]._id, messageId);
  const theirs = await within(other.query(chat.searchMessages, { query: word, limit: 10 }), undefined, "Jane's search");
  assert.equal(theirs.messages.length, 0, "Jane sees nothing of John's");

  const stores = await within(customer.query(chat.getConversations, { kind: "customer_to_store", orderId: DEMO.orderId }));
  assert.deepEqual(
    stores.map((c) => c._id),
    [conversationId],
  );
  const page = await within(customer.query(chat.getConversationsPaginated, { paginationOpts: { numItems: 1, cursor: null } }));
  assert.equal(page.page.length, 1);
  assert.equal(typeof page.continueCursor, "string");
  await rejectsWithData(
    customer.query(chat.getConversations, { kind: "group" }),
    { status: 400 },
    "getConversations with a kind that is not one",
  );
});

test("a direct channel appears in the other person's list live; one per pair", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const customer = clients.ws(TOKENS.customer);
  const admin = clients.ws(TOKENS.admin);
  const list = subscribe(admin, chat.getDirectChannels, {});
  const ref = await within(
    customer.mutation(chat.getOrCreateDirectChannel, { userId: "admin123456789" }),
    undefined,
    "getOrCreateDirectChannel",
  );
  assert.equal(ref.conversationType, "direct");
  const again = await within(admin.mutation(chat.getOrCreateDirectChannel, { userId: DEMO.customerId }));
  assert.equal(again.conversationId, ref.conversationId);
  await within(
    customer.mutation(chat.sendMessage, { conversationId: ref.conversationId, content: unique("A question"), messageType: "text" }),
  );
  const channels = await list.until(
    (cs) => cs.some((c) => c._id === ref.conversationId && c.unreadCount >= 1),
    undefined,
    "the channel in the admin's list, unread",
  );
  assert.equal(channels.find((c) => c._id === ref.conversationId).channelKey, `direct:admin123456789:${DEMO.customerId}`);
  await rejectsWithData(
    customer.mutation(chat.getOrCreateDirectChannel, { userId: DEMO.customerId }),
    { status: 400, error: "userId must be another user than you" },
    "a channel with oneself",
  );
});

test("a store's thread with support reaches support's inbox live; a meeting in it", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const store = clients.ws(TOKENS.store);
  const admin = clients.ws(TOKENS.admin);
  const customer = clients.ws(TOKENS.customer);
  const inbox = subscribe(admin, chat.getConversations, { kind: "store_to_admin" });
  const ref = await within(store.mutation(chat.createOrGetStoreSupportConversation, {}), undefined, "createOrGetStoreSupportConversation");
  assert.equal(ref.conversationType, "store_to_admin");
  const content = unique("Our payouts are late");
  await within(store.mutation(chat.sendMessage, { conversationId: ref.conversationId, content, messageType: "text" }));
  const list = await inbox.until(
    (cs) => cs.some((c) => c._id === ref.conversationId && c.lastMessagePreview === content),
    undefined,
    "the store's thread in support's inbox",
  );
  const conv = list.find((c) => c._id === ref.conversationId);
  assert.equal(conv.storeId, DEMO.storeId);
  assert.ok(conv.unreadCountCustomer >= 1, "support has not read it (support's column in a store's thread)");

  const startsAt = Date.now() + 3600_000;
  const meetingId = await within(
    admin.mutation(chat.sendMessage, {
      conversationId: ref.conversationId,
      content: "",
      messageType: "meeting",
      meeting: { title: "Payouts review", startsAt, durationMinutes: 30, joinUrl: "https://meet.example/payouts" },
    }),
    undefined,
    "a meeting",
  );
  const page = await within(store.query(chat.getMessages, { conversationId: ref.conversationId, limit: 5 }));
  const meeting = page.messages.find((m) => m._id === meetingId);
  assert.deepEqual(meeting.meeting, { title: "Payouts review", startsAt, durationMinutes: 30, joinUrl: "https://meet.example/payouts" });
  await rejectsWithData(
    customer.query(chat.getMessages, { conversationId: ref.conversationId }),
    { status: 404, error: "Conversation not found" },
    "a customer reading a store's thread with support",
  );
  await rejectsWithData(
    customer.mutation(chat.createOrGetStoreSupportConversation, {}),
    { status: 403 },
    "a customer opening a store's thread with support",
  );
});
