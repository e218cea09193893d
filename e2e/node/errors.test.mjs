// Function errors and authentication over the WebSocket sync protocol,
// as the official ConvexClient surfaces them.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  api,
  Clients,
  ConvexError,
  TOKENS,
  demoConversation,
  rejectsWithData,
  subscribe,
  waitFor,
  within,
} from "./helpers.mjs";

const chat = api.shared.chat;
const NOT_FOUND = { code: "not_found", status: 404, error: "Conversation not found" };

test("sendMessage to a nonexistent conversation rejects with ConvexError not_found", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const customer = clients.ws(TOKENS.customer);
  const err = await rejectsWithData(
    customer.mutation(chat.sendMessage, { conversationId: "conv_doesnotexist", content: "Hi", messageType: "text" }),
    NOT_FOUND,
    "sendMessage",
  );
  assert.deepEqual(err.data, NOT_FOUND, "data is exactly {code, status, error}");
  assert.match(err.message, /Conversation not found/);
});

test("another customer reading John's conversation gets the same 404 through a query", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const john = clients.ws(TOKENS.customer);
  const jane = clients.ws(TOKENS.other);
  const conversationId = await demoConversation(john);

  // One-shot query (ConvexClient.query subscribes under the hood).
  const err = await rejectsWithData(jane.query(chat.getMessages, { conversationId }), NOT_FOUND, "getMessages by Jane");
  assert.deepEqual(err.data, NOT_FOUND);

  // A live subscription reports it through onError.
  const sub = subscribe(jane, chat.getMessages, { conversationId, limit: 10 });
  const subErr = await waitFor(() => sub.errors[0], undefined, "the subscription's error");
  assert.ok(subErr instanceof ConvexError, `got ${subErr.constructor.name}: ${subErr.message}`);
  assert.deepEqual(subErr.data, NOT_FOUND);
  assert.equal(sub.values.length, 0, "no value was delivered to Jane");

  // Jane cannot write to it either, and learns nothing more than "not found".
  await rejectsWithData(
    jane.mutation(chat.sendMessage, { conversationId, content: "hello?", messageType: "text" }),
    NOT_FOUND,
    "sendMessage by Jane",
  );
});

test("arguments of the wrong type give invalid_argument naming the field", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const customer = clients.ws(TOKENS.customer);
  const conversationId = await demoConversation(customer);

  const q = await rejectsWithData(
    customer.query(chat.getMessages, { conversationId, limit: "x" }),
    { code: "invalid_argument", status: 400 },
    "getMessages with limit:\"x\"",
  );
  assert.match(q.data.error, /"limit"/, `the message names the field: ${q.data.error}`);

  const m = await rejectsWithData(
    customer.mutation(chat.sendMessage, { conversationId, content: 5, messageType: "text" }),
    { code: "invalid_argument", status: 400 },
    "sendMessage with content:5",
  );
  assert.match(m.data.error, /"content"/, `the message names the field: ${m.data.error}`);

  const missing = await rejectsWithData(
    customer.mutation(chat.sendMessage, { content: "hi", messageType: "text" }),
    { code: "invalid_argument", status: 400 },
    "sendMessage without conversationId",
  );
  assert.match(missing.data.error, /"conversationId"/, `the message names the field: ${missing.data.error}`);

  // The connection is still usable after the errors.
  const page = await within(customer.query(chat.getMessages, { conversationId, limit: 1 }), undefined, "a good query");
  assert.ok(Array.isArray(page.messages));
});

test("an unknown function gives function_not_found", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const customer = clients.ws(TOKENS.customer);
  await rejectsWithData(
    customer.query(api.shared.chat.noSuchQuery, {}),
    { code: "function_not_found", status: 404 },
    "query shared/chat:noSuchQuery",
  );
  await rejectsWithData(
    customer.mutation(api.shared.chat.noSuchMutation, {}),
    { code: "function_not_found", status: 404 },
    "mutation shared/chat:noSuchMutation",
  );
});

test("a valid token is confirmed: setAuth's onChange(true)", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const changes = [];
  const customer = clients.ws(TOKENS.customer, (ok) => changes.push(ok));
  await waitFor(() => changes.length > 0, undefined, "onChange");
  assert.deepEqual(changes, [true]);
  const n = await within(customer.query(chat.getUnreadCount, {}), undefined, "getUnreadCount");
  assert.equal(typeof n, "number");
});

test("a token with the wrong signature: onChange(false), then queries are unauthenticated", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const changes = [];
  let fetches = 0;
  const bad = clients.ws();
  // The client logs "Failed to authenticate" on the way; that is expected.
  bad.setAuth(
    async () => {
      fetches++;
      return TOKENS.bad;
    },
    (ok) => changes.push(ok),
  );
  await waitFor(() => changes.length > 0, undefined, "onChange after the server's AuthError");
  assert.deepEqual(changes, [false]);
  assert.ok(fetches >= 1, "the token fetcher was called");

  // The client carries on without auth.
  await rejectsWithData(
    bad.query(chat.getUnreadCount, {}),
    { code: "unauthenticated", status: 401 },
    "getUnreadCount after the rejected token",
  );
  assert.deepEqual(changes, [false], "no later onChange(true)");
});

test("without auth, functions that need an identity fail with unauthenticated", async (t) => {
  const clients = new Clients();
  t.after(() => clients.close());
  const anon = clients.ws();
  await rejectsWithData(
    anon.query(chat.getUnreadCount, {}),
    { code: "unauthenticated", status: 401, error: "Not authenticated" },
    "getUnreadCount without auth",
  );
  await rejectsWithData(
    anon.mutation(chat.createOrGetConversation, { orderId: "order123456789", storeId: "store123456789" }),
    { code: "unauthenticated", status: 401 },
    "createOrGetConversation without auth",
  );
});
