// The API document's real-time integrations, against a `parley dev` of
// this file's own. React: web/convex-app is a Convex app on the official
// convex/react client (ConvexProvider, ConvexReactClient, `import { api }
// from "./convex/_generated/api"`, which `parley codegen --convex-dir`
// writes) whose useChat hook is the document's, verbatim. Vue:
// web/vue-app uses @parley/client/vue (ParleyPlugin, useChat, useQuery).
// Each must render the conversation, show a message another client sends,
// and send one itself, once.
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

/** Opens path as John, and checks the page's live thread both ways. */
async function liveThread(path, testid, input, name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(`${server.url}${path}?as=john&conversation=${conv}`);

  const messages = page.getByTestId(testid);
  await messages.first().waitFor();
  assert.ok((await messages.count()) > 0, "the demo conversation's messages are shown");
  await page.getByTestId("unread").filter({ hasText: /unread: \d+/ }).waitFor();

  // Another client (the store, over the HTTP API) writes: the subscription
  // pushes it.
  const fromStore = `from the store to ${name} ${stamp}`;
  await call(server, "pizza", "mutation", "shared/chat:sendMessage", { conversationId: conv, content: fromStore, messageType: "text" });
  await messages.filter({ hasText: fromStore }).waitFor();

  // The page's own sendMessage writes; the page shows it, and a fresh query
  // holds it once.
  const fromJohn = `from the ${name} page ${stamp}`;
  await page.getByTestId(input).fill(fromJohn);
  await page.getByTestId(input).press("Enter");
  await messages.filter({ hasText: fromJohn }).waitFor();
  const latest = await call(server, "pizza", "query", "shared/chat:getMessages", { conversationId: conv, limit: 10 });
  assert.equal(latest.messages.filter((m) => m.content === fromJohn).length, 1, "the page's message reached the server once");

  await screenshot(page, `${name}-app`);
  assert.deepEqual(errors, [], "no page errors");
  await context.close();
}

test("the document's useChat hook runs unmodified on convex/react", () =>
  liveThread("/convex-app/", "snippet-message", "snippet-input", "react"));

test("the Vue composables of @parley/client/vue", () => liveThread("/vue-app/", "vue-message", "vue-input", "vue"));
