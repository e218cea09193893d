// The HTTP API (POST /api/query, /api/mutation) through the official
// ConvexHttpClient.

import { test } from "node:test";
import assert from "node:assert/strict";
import { api, Clients, DEMO, TOKENS, demoConversation, rejectsWithData, subscribe, unique, within } from "./helpers.mjs";

const chat = api.shared.chat;

test("ConvexHttpClient: createOrGetConversation is idempotent and getUnreadCount answers", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const http = clients.http(TOKENS.customer);

  const n = await within(http.query(chat.getUnreadCount, {}), undefined, "getUnreadCount over HTTP");
  assert.equal(typeof n, "number");
  assert.ok(Number.isInteger(n) && n >= 0, `unread count ${n}`);

  const args = { orderId: DEMO.orderId, storeId: DEMO.storeId };
  const first = await within(http.mutation(chat.createOrGetConversation, args), undefined, "createOrGetConversation");
  assert.deepEqual(Object.keys(first).sort(), ["conversationId", "conversationType"]);
  assert.equal(typeof first.conversationId, "string");
  assert.equal(first.conversationType, "customer_to_store");
  const second = await within(http.mutation(chat.createOrGetConversation, args), undefined, "createOrGetConversation again");
  assert.deepEqual(second, first, "the same conversation both times");

  // The WebSocket client finds the same conversation.
  const ws = clients.ws(TOKENS.customer);
  assert.equal(await demoConversation(ws), first.conversationId);
});

test("ConvexHttpClient: a mutation over HTTP reaches a WebSocket subscriber", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const http = clients.http(TOKENS.store);
  const customer = clients.ws(TOKENS.customer);
  const conversationId = await demoConversation(customer);
  const sub = subscribe(customer, chat.getMessages, { conversationId, limit: 100 });
  await sub.until(() => true, undefined, "the first getMessages result");

  const content = unique("sent over HTTP");
  const messageId = await within(
    http.mutation(chat.sendMessage, { conversationId, content, messageType: "text" }),
    undefined,
    "sendMessage over HTTP",
  );
  const page = await sub.until((p) => p.messages.some((m) => m._id === messageId), undefined, "the HTTP-sent message");
  const m = page.messages.find((x) => x._id === messageId);
  assert.equal(m.content, content);
  assert.equal(m.senderType, "store");

  // And the HTTP query sees it too.
  const viaHttp = await within(http.query(chat.getMessages, { conversationId, limit: 100 }), undefined, "getMessages over HTTP");
  assert.ok(viaHttp.messages.some((x) => x._id === messageId));
  assert.equal(viaHttp.isDone, true);
  assert.ok(!("continueCursor" in viaHttp));
});

test("ConvexHttpClient: errors arrive as ConvexError with data", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const john = clients.http(TOKENS.customer);
  const { conversationId } = await within(
    john.mutation(chat.createOrGetConversation, { orderId: DEMO.orderId, storeId: DEMO.storeId }),
    undefined,
    "createOrGetConversation",
  );

  const notFound = { code: "not_found", status: 404, error: "Conversation not found" };
  const other = clients.http(TOKENS.other);
  const e1 = await rejectsWithData(other.query(chat.getMessages, { conversationId }), notFound, "getMessages by Jane over HTTP");
  assert.deepEqual(e1.data, notFound);
  await rejectsWithData(
    john.mutation(chat.sendMessage, { conversationId: "conv_doesnotexist", content: "Hi", messageType: "text" }),
    notFound,
    "sendMessage to a nonexistent conversation over HTTP",
  );

  const bad = await rejectsWithData(
    john.query(chat.getMessages, { conversationId, limit: "x" }),
    { code: "invalid_argument", status: 400 },
    "limit:\"x\" over HTTP",
  );
  assert.match(bad.data.error, /"limit"/);

  await rejectsWithData(
    clients.http().query(chat.getUnreadCount, {}),
    { code: "unauthenticated", status: 401 },
    "getUnreadCount over HTTP without auth",
  );
  await rejectsWithData(
    clients.http(TOKENS.bad).query(chat.getUnreadCount, {}),
    { code: "unauthenticated", status: 401 },
    "getUnreadCount over HTTP with a badly signed token",
  );
});
