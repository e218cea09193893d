// The API document's React snippet, on the official convex/react client,
// against a `parley dev` of this file's own: web/convex-app is a Convex
// app (ConvexProvider, ConvexReactClient, `import { api } from
// "./convex/_generated/api"`, which `parley codegen --convex-dir` writes)
// whose useChat hook is the document's, verbatim. It must render the
// conversation, show a message another client sends, and send one itself.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DevServer, call, launchBrowser, screenshot, timeout } from "./harness.mjs";

const conv = "conv123456789"; // John ↔ Pizza Palace (demo data)
const stamp = Date.now().toString(36);

let server;
let browser;

before(async () => {
  server = await DevServer.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test("the document's useChat hook runs unmodified on convex/react", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(`${server.url}/convex-app/?as=john&conversation=${conv}`);

  const messages = page.getByTestId("snippet-message");
  await messages.first().waitFor();
  const before = await messages.count();
  assert.ok(before > 0, "the demo conversation's messages are shown");
  await page.getByTestId("unread").filter({ hasText: /unread: \d+/ }).waitFor();

  // Another client (the store, over the HTTP API) writes: the subscription
  // pushes it.
  const fromStore = `from the store ${stamp}`;
  await call(server, "pizza", "mutation", "shared/chat:sendMessage", { conversationId: conv, content: fromStore, messageType: "text" });
  await messages.filter({ hasText: fromStore }).waitFor();

  // The hook's sendMessage (useMutation) writes; the page shows it, and so
  // does a fresh query.
  const fromJohn = `from the snippet ${stamp}`;
  await page.getByTestId("snippet-input").fill(fromJohn);
  await page.getByTestId("snippet-input").press("Enter");
  await messages.filter({ hasText: fromJohn }).waitFor();
  const page1 = await call(server, "pizza", "query", "shared/chat:getMessages", { conversationId: conv, limit: 10 });
  assert.ok(page1.messages.some((m) => m.content === fromJohn), "the snippet's message reached the server once");
  assert.equal(page1.messages.filter((m) => m.content === fromJohn).length, 1);

  await screenshot(page, "convex-app-snippet");
  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});
