// The WebSocket sync protocol through the official ConvexClient: live
// subscriptions, read-your-writes, and read receipts.

import { test } from "node:test";
import assert from "node:assert/strict";
import { getFunctionName } from "convex/server";
import { api, Clients, DEMO, TOKENS, demoConversation, subscribe, unique, within } from "./helpers.mjs";

const chat = api.shared.chat;

test("a message sent by the store arrives in the customer's subscription", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const customer = clients.ws(TOKENS.customer);
  const store = clients.ws(TOKENS.store);
  const conversationId = await demoConversation(customer);

  const limit = 100;
  const sub = subscribe(customer, chat.getMessages, { conversationId, limit });
  await sub.until(() => true, undefined, "the first getMessages result");

  const content = unique("Your pizza is on its way");
  const before = Date.now();
  const messageId = await within(
    store.mutation(chat.sendMessage, { conversationId, content, messageType: "text" }),
    undefined,
    "sendMessage by the store",
  );
  const after = Date.now();
  assert.equal(typeof messageId, "string");

  const page = await sub.until(
    (p) => p.messages.some((m) => m._id === messageId),
    undefined,
    `message ${messageId} in the customer's subscription`,
  );

  // Page shape: {messages, isDone} and no continueCursor on the last page.
  assert.ok(Array.isArray(page.messages));
  assert.ok(page.messages.length < limit, "precondition: the conversation fits in one page");
  assert.equal(page.isDone, true);
  assert.ok(!("continueCursor" in page), `continueCursor must be absent when done, page keys: ${Object.keys(page)}`);
  assert.deepEqual(Object.keys(page).sort(), ["isDone", "messages"]);

  // Newest first: nothing was sent after it.
  const m = page.messages[0];
  assert.equal(m._id, messageId);
  assert.equal(typeof m._creationTime, "number");
  // Milliseconds since the epoch, taken by the server while the mutation ran
  // (same machine, so the same clock; a second of slack for rounding).
  assert.ok(
    m._creationTime >= before - 1000 && m._creationTime <= after + 1000,
    `_creationTime ${m._creationTime} should be a ms timestamp in [${before}, ${after}]`,
  );
  assert.equal(m.conversationId, conversationId);
  assert.equal(m.senderId, DEMO.staffId);
  assert.equal(m.senderType, "store");
  assert.equal(m.senderName, "Pizza Palace Support");
  assert.equal(m.messageType, "text");
  assert.equal(m.content, content);
  assert.equal(m.isRead, false);
  assert.equal(m.isDeleted, false);
  assert.ok(!("readAt" in m), "an unread message has no readAt");
});

test("getMessages pages with continueCursor until isDone", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const customer = clients.ws(TOKENS.customer);
  const conversationId = await demoConversation(customer);
  for (let i = 0; i < 2; i++) {
    await within(
      customer.mutation(chat.sendMessage, { conversationId, content: unique(`page ${i}`), messageType: "text" }),
      undefined,
      "sendMessage",
    );
  }
  const all = await within(customer.query(chat.getMessages, { conversationId, limit: 100 }), undefined, "query all");
  assert.equal(all.isDone, true);
  assert.ok(all.messages.length >= 2);

  // Walk the conversation one message at a time.
  const seen = [];
  let cursor;
  for (let i = 0; i <= all.messages.length; i++) {
    const args = cursor === undefined ? { conversationId, limit: 1 } : { conversationId, limit: 1, cursor };
    const page = await within(customer.query(chat.getMessages, args), undefined, `query page ${i}`);
    seen.push(...page.messages.map((m) => m._id));
    if (page.isDone) {
      assert.ok(!("continueCursor" in page), "continueCursor must be absent on the last page");
      break;
    }
    assert.equal(typeof page.continueCursor, "string");
    assert.equal(page.messages.length, 1);
    cursor = page.continueCursor;
  }
  assert.deepEqual(seen, all.messages.map((m) => m._id), "pages concatenate to the whole conversation, newest first");
});

test("read-your-writes: the mutation's promise resolves after its result is in the subscription", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const customer = clients.ws(TOKENS.customer);
  const conversationId = await demoConversation(customer);
  const args = { conversationId, limit: 100 };
  const udfPath = getFunctionName(chat.getMessages);
  assert.equal(udfPath, "shared/chat:getMessages");

  const sub = subscribe(customer, chat.getMessages, args);
  await sub.until(() => true, undefined, "the first getMessages result");

  for (let i = 0; i < 8; i++) {
    const messageId = await within(
      customer.mutation(chat.sendMessage, { conversationId, content: unique(`ryw ${i}`), messageType: "text" }),
      undefined,
      `sendMessage ${i}`,
    );
    // No await between the mutation's resolution and these reads.
    const local = customer.client.localQueryResult(udfPath, args);
    assert.ok(local, `round ${i}: no local result for ${udfPath}`);
    assert.equal(
      local.messages[0]?._id,
      messageId,
      `round ${i}: the local result must already hold ${messageId} when the mutation resolves`,
    );
    const current = sub.unsubscribe.getCurrentValue();
    assert.equal(current.messages[0]?._id, messageId, `round ${i}: getCurrentValue()`);
    const m = current.messages[0];
    assert.equal(m.senderType, "customer");
    assert.equal(m.senderName, DEMO.customerName);
    assert.equal(m.senderId, DEMO.customerId);
  }
});

test("markMessagesAsRead flips isRead/readAt for the store and zeroes the customer's unread count", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const customer = clients.ws(TOKENS.customer);
  const store = clients.ws(TOKENS.store);
  const conversationId = await demoConversation(customer);

  const storeView = subscribe(store, chat.getMessages, { conversationId, limit: 100 });
  const unread = subscribe(customer, chat.getUnreadCount, {});
  await storeView.until(() => true, undefined, "the store's first getMessages result");
  await unread.until((n) => typeof n === "number", undefined, "the customer's first unread count");

  const messageId = await within(
    store.mutation(chat.sendMessage, { conversationId, content: unique("Ready for pickup"), messageType: "text" }),
    undefined,
    "sendMessage by the store",
  );
  // The store's own write is in its own subscription when the promise resolves.
  const sent = storeView.unsubscribe.getCurrentValue().messages.find((m) => m._id === messageId);
  assert.ok(sent, "store: read-your-writes");
  assert.equal(sent.isRead, false);
  await unread.until((n) => n >= 1, undefined, "the customer's unread count to count the new message");

  const res = await within(
    customer.mutation(chat.markMessagesAsRead, { conversationId }),
    undefined,
    "markMessagesAsRead",
  );
  assert.ok(res.markedCount >= 1, `markedCount ${res.markedCount}`);
  assert.ok(res.messageIds.includes(messageId), `messageIds ${JSON.stringify(res.messageIds)} should include ${messageId}`);
  assert.equal(res.markedCount, res.messageIds.length);
  // Read-your-writes for the reader's own count.
  assert.equal(unread.unsubscribe.getCurrentValue(), 0, "customer's unread count right after markMessagesAsRead");

  const page = await storeView.until(
    (p) => p.messages.find((m) => m._id === messageId)?.isRead === true,
    undefined,
    "the store to see the message read",
  );
  const m = page.messages.find((x) => x._id === messageId);
  assert.equal(typeof m.readAt, "number");
  assert.ok(m.readAt >= m._creationTime, `readAt ${m.readAt} before _creationTime ${m._creationTime}`);
  assert.ok(Math.abs(m.readAt - Date.now()) < 60_000, `readAt ${m.readAt} should be a ms timestamp near now`);
  await unread.until((n) => n === 0, undefined, "the customer's unread count to be 0");

  // Marking again changes nothing.
  const again = await within(customer.mutation(chat.markMessagesAsRead, { conversationId }), undefined, "mark again");
  assert.deepEqual(again, { markedCount: 0, messageIds: [] });
});

test("unsubscribe and subscribe again to the same query", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const customer = clients.ws(TOKENS.customer);
  const store = clients.ws(TOKENS.store);
  const conversationId = await demoConversation(customer);
  const args = { conversationId, limit: 100 };

  const first = subscribe(customer, chat.getMessages, args);
  await first.until(() => true, undefined, "the first subscription's value");
  first.unsubscribe();
  // Let the Remove reach the server before the next Add.
  await within(customer.query(chat.getUnreadCount, {}), undefined, "a query in between");

  const messageId = await within(
    store.mutation(chat.sendMessage, { conversationId, content: unique("while away"), messageType: "text" }),
    undefined,
    "sendMessage by the store",
  );
  const second = subscribe(customer, chat.getMessages, args);
  await second.until((p) => p.messages.some((m) => m._id === messageId), undefined, "the message in the new subscription");
  const n = first.values.length;
  assert.ok(!first.values.some((p) => p.messages.some((m) => m._id === messageId)), "the old callback saw nothing after unsubscribe");
  assert.equal(first.values.length, n);
});

test("a burst of concurrent sends from both sides converges to the server's answer", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const customer = clients.ws(TOKENS.customer);
  const store = clients.ws(TOKENS.store);
  const conversationId = await demoConversation(customer);
  const args = { conversationId, limit: 100 };
  const customerView = subscribe(customer, chat.getMessages, args);
  const storeView = subscribe(store, chat.getMessages, args);
  await customerView.until(() => true, undefined, "customer's first value");
  await storeView.until(() => true, undefined, "store's first value");

  const sends = [];
  for (let i = 0; i < 15; i++) {
    for (const [who, c] of [["customer", customer], ["store", store]]) {
      sends.push(c.mutation(chat.sendMessage, { conversationId, content: unique(`burst ${who} ${i}`), messageType: "text" }));
    }
  }
  const ids = await within(Promise.all(sends), 20_000, "30 concurrent sends");
  assert.equal(new Set(ids).size, ids.length, "every send got its own id");

  const hasAll = (p) => ids.every((id) => p.messages.some((m) => m._id === id));
  await customerView.until(hasAll, undefined, "every burst message in the customer's view");
  await storeView.until(hasAll, undefined, "every burst message in the store's view");

  // The last pushed values equal a fresh evaluation (no missed update).
  const fresh = await within(clients.http(TOKENS.customer).query(chat.getMessages, args), undefined, "fresh query over HTTP");
  await customerView.until((p) => JSON.stringify(p) === JSON.stringify(fresh), undefined, "customer's view to equal the fresh result");
  const freshStore = await within(clients.http(TOKENS.store).query(chat.getMessages, args), undefined, "fresh query over HTTP");
  await storeView.until((p) => JSON.stringify(p) === JSON.stringify(freshStore), undefined, "store's view to equal the fresh result");
  // Newest first, strictly ordered by (_creationTime, _id) descending.
  const msgs = fresh.messages;
  for (let i = 1; i < msgs.length; i++) {
    const a = msgs[i - 1], b = msgs[i];
    assert.ok(
      a._creationTime > b._creationTime || (a._creationTime === b._creationTime && a._id > b._id),
      `messages ${i - 1} and ${i} out of order`,
    );
  }
});
