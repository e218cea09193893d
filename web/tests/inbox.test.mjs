// The conversation list's filters and pages in headless Chromium against a
// real `parley dev`: Pizza Palace's inbox with "Unread only" following a
// customer's message and a colleague's reading, and a long inbox (written
// by a shop backend in SQL) loaded page by page with "Load more"; and
// John's list by kind. The tests run in order on one server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, DevServer, launchBrowser, openAs, screenshot } from "./harness.mjs";

const conv = "conv123456789"; // John ↔ Pizza Palace, about order123456789 (demo data)
const stamp = Date.now().toString(36);

let server;
let browser;
let pizza;

before(async () => {
  server = await DevServer.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** The list's conversations, in order, by id. */
async function listed(page) {
  return page.getByTestId("conversation").evaluateAll((els) => els.map((el) => el.dataset.conversationId));
}

/** Waits until the list holds n conversations. */
async function waitCount(page, n) {
  await page.waitForFunction((want) => document.querySelectorAll('[data-testid="conversation"]').length === want, n);
}

test("unread only follows a customer's message and a colleague's reading", async () => {
  pizza = await openAs(browser, server, "pizza");
  await pizza.getByTestId("conversation").filter({ hasText: "John Doe" }).waitFor();

  // The demo conversation's messages are read: nothing is unread.
  await pizza.getByTestId("unread-only").check();
  await pizza.getByTestId("no-conversations").filter({ hasText: "No conversations match." }).waitFor();

  // John writes: the conversation appears, with its count, without a reload.
  const text = `Is my pizza ready? ${stamp}`;
  await call(server, "john", "mutation", "shared/chat:sendMessage", { conversationId: conv, content: text, messageType: "text" });
  const row = pizza.getByTestId("conversation").filter({ hasText: text });
  await row.waitFor();
  assert.equal(await row.getByTestId("unread-badge").innerText(), "1");
  assert.deepEqual(await listed(pizza), [conv]);
  await screenshot(pizza, "inbox-unread-only");

  // The kitchen (the same store) reads it: it leaves the unread list.
  await call(server, "kitchen", "mutation", "shared/chat:markMessagesAsRead", { conversationId: conv });
  await pizza.getByTestId("no-conversations").waitFor();

  // Unticked, the whole inbox is back.
  await pizza.getByTestId("unread-only").uncheck();
  await row.waitFor();
  assert.equal(await row.getByTestId("unread-badge").count(), 0);
  assert.deepEqual(pizza.errors, []);
});

test("a long inbox loads page by page; a conversation with news moves to the top", async () => {
  // Thirty more conversations, written by the shop backend, older than the demo one.
  server.appSql(
    `INSERT INTO users (id, name, role) SELECT 'web-bulk-' || i, 'Bulk Customer ' || i, 'customer' FROM generate_series(1, 30) i`,
  );
  server.appSql(`INSERT INTO conversations (id, conversation_type, customer_id, store_id, last_message_at, last_message_preview, created_at)
    SELECT 'conv-web-bulk-' || lpad(i::text, 2, '0'), 'customer_to_store', 'web-bulk-' || i, 'store123456789',
      timestamptz '2021-06-01' - i * interval '1 minute', 'Hello ' || i, timestamptz '2021-01-01'
    FROM generate_series(1, 30) i`);
  const bulk = Array.from({ length: 30 }, (_, i) => `conv-web-bulk-${String(i + 1).padStart(2, "0")}`);

  // A fresh page: the first 25, newest first, and "Load more".
  await pizza.reload();
  await waitCount(pizza, 25);
  assert.deepEqual(await listed(pizza), [conv, ...bulk.slice(0, 24)]);
  await pizza.getByTestId("load-more").click();
  await waitCount(pizza, 31);
  assert.deepEqual(await listed(pizza), [conv, ...bulk]);
  assert.equal(await pizza.getByTestId("load-more").count(), 0, "the inbox is exhausted");

  // The oldest gets a message: it moves from the second page to the top.
  const oldest = bulk[29];
  await call(server, "pizza", "mutation", "shared/chat:sendMessage", {
    conversationId: oldest,
    content: `Your table is ready ${stamp}`,
    messageType: "text",
  });
  await pizza.waitForFunction(
    (id) => document.querySelector('[data-testid="conversation"]')?.getAttribute("data-conversation-id") === id,
    oldest,
  );
  assert.deepEqual(await listed(pizza), [oldest, conv, ...bulk.slice(0, 29)]);
  await pizza.getByTestId("conversation").first().scrollIntoViewIfNeeded();
  await screenshot(pizza, "inbox-load-more");
  assert.deepEqual(pizza.errors, []);
});

test("a customer's list by kind: stores or support", async () => {
  const john = await openAs(browser, server, "john");
  const pizzaRow = john.getByTestId("conversation").filter({ hasText: "Pizza Palace" });
  await pizzaRow.waitFor();
  await john.getByTestId("kind-filter").selectOption("customer_to_admin");
  await john.getByTestId("no-conversations").filter({ hasText: "No conversations match." }).waitFor();
  // John asks support: the support list shows it at once.
  await call(server, "john", "mutation", "shared/chat:createOrGetConversation", {});
  await john.getByTestId("conversation").filter({ hasText: "Parley Support" }).waitFor();
  await john.getByTestId("kind-filter").selectOption("customer_to_store");
  await pizzaRow.waitFor();
  assert.equal(await john.getByTestId("conversation").filter({ hasText: "Parley Support" }).count(), 0);
  await screenshot(john, "inbox-kind");
  assert.deepEqual(john.errors, []);
});
