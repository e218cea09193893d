// The support widget (/widget) in headless Chromium against a real
// `parley dev`: a visitor without an account starts a chat (a guest token
// from POST /api/guest), writes, and support sees it arrive live in its
// console, marked as a guest's, and answers; the visitor signs in from the
// widget, the thread is claimed and stays the same, every message once;
// the app at / then shows it in the customer's list. A shop's page embeds
// the widget in an iframe; a second visitor does not see the first's.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { once } from "node:events";
import { after, before, test } from "node:test";
import { DevServer, launchBrowser, message, openAs, screenshot, send, timeout, waitConnected } from "./harness.mjs";

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

/** A page of a fresh browser context (its own storage: a new visitor) on path. */
async function visit(path) {
  const context = await browser.newContext({ viewport: { width: 420, height: 640 } });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e));
  await page.goto(`${server.url}${path}`);
  return page;
}

test("a guest chats from the widget, support sees it live, and signing in claims the thread", async () => {
  const admin = await openAs(browser, server, "admin");
  const visitor = await visit("/widget?name=Widget%20visitor");
  assert.equal(await visitor.getByTestId("guest-name").inputValue(), "Widget visitor");
  await visitor.getByTestId("start-chat").click();
  await waitConnected(visitor);
  await visitor.getByTestId("widget-empty").waitFor();
  assert.equal(await visitor.getByTestId("guest-whoami").textContent(), "Widget visitor");

  const question = `Do you ship to Norway? ${stamp}`;
  await send(visitor, question);
  await message(visitor, question).waitFor();

  // Support's console has it live, marked as a guest's, and answers.
  const item = admin.getByTestId("conversation").filter({ hasText: question });
  await item.getByTestId("guest-badge").waitFor();
  assert.match(await item.textContent(), /Widget visitor/);
  await item.click();
  await message(admin, question).waitFor();
  const answer = `Yes, in three days ${stamp}`;
  await send(admin, answer);
  await message(visitor, answer).waitFor();
  await message(visitor, question).getByTestId("receipt").filter({ hasText: "Read" }).waitFor();
  await screenshot(visitor, "widget-guest");

  // A reload keeps the visitor's thread (the guest is in localStorage).
  await visitor.reload();
  await message(visitor, answer).waitFor();
  const threadId = await visitor.getByTestId("thread").getAttribute("data-conversation-id");

  // The visitor signs in as Jane from the widget: the thread is claimed.
  await visitor.getByTestId("widget-sign-in").click();
  await visitor.getByTestId("widget-identity-jane").click();
  await visitor.getByTestId("signed-in-as").filter({ hasText: "Jane Roe" }).waitFor();
  await message(visitor, answer).waitFor();
  assert.equal(await message(visitor, question).count(), 1, "the guest's message, once");
  assert.equal(await message(visitor, answer).count(), 1, "support's answer, once");
  assert.ok(await message(visitor, question).evaluate((el) => el.classList.contains("mine")), "the guest's message is Jane's");
  const claimedId = await visitor.getByTestId("thread").getAttribute("data-conversation-id");
  assert.equal(claimedId, threadId, "Jane had no support thread: the guest's became hers");
  await screenshot(visitor, "widget-signed-in");

  // Support's list follows: the thread is Jane's now, without the guest badge.
  const claimed = admin.locator(`[data-testid="conversation"][data-conversation-id="${threadId}"]`);
  await claimed.filter({ hasText: "Jane Roe" }).waitFor();
  await claimed.getByTestId("guest-badge").waitFor({ state: "detached" });
  assert.equal(await message(admin, question).count(), 1);
  const followUp = `Signed in now ${stamp}`;
  await send(visitor, followUp);
  await message(admin, followUp).waitFor();

  // The app at / is signed in as Jane too, with the thread in her list.
  await visitor.goto(`${server.url}/`);
  await visitor.getByTestId("whoami").filter({ hasText: "Jane Roe" }).waitFor();
  await visitor.getByTestId("conversation").filter({ hasText: followUp }).waitFor();

  for (const page of [admin, visitor]) assert.deepEqual(page.errors, []);
  await visitor.context().close();
  await admin.context().close();
});

test("a shop embeds the widget; another visitor sees nothing of the first's thread", async () => {
  // The shop's own page, on another origin, with the widget in an iframe.
  const shop = createServer((_req, res) => {
    res.setHeader("Content-Type", "text/html");
    res.end(`<!doctype html><title>Shop</title><h1>The Shop</h1>
      <iframe id="chat" src="${server.url}/widget" style="width:380px;height:560px;border:0"></iframe>`);
  });
  shop.listen(0, "127.0.0.1");
  await once(shop, "listening");
  try {
    const first = await visit("/widget");
    await first.getByTestId("start-chat").click();
    await waitConnected(first);
    const secret = `My address is 1 Private Road ${stamp}`;
    await send(first, secret);
    await message(first, secret).waitFor();

    const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);
    const errors = [];
    page.on("pageerror", (e) => errors.push(e));
    await page.goto(`http://127.0.0.1:${shop.address().port}/`);
    const widget = page.frameLocator("#chat");
    await widget.getByTestId("start-chat").click();
    await widget.locator('[data-testid="connection"][data-state="connected"]').waitFor();
    await widget.getByTestId("widget-empty").waitFor();
    const hello = `Hello from the shop page ${stamp}`;
    await widget.getByTestId("composer-input").fill(hello);
    await widget.getByTestId("composer-input").press("Enter");
    await widget.getByTestId("message").filter({ hasText: hello }).waitFor();
    assert.equal(await widget.getByTestId("message").filter({ hasText: secret }).count(), 0, "a guest sees only its own thread");
    await screenshot(page, "widget-embedded");
    assert.deepEqual(errors, []);
    assert.deepEqual(first.errors, []);
    await context.close();
    await first.context().close();
  } finally {
    shop.close();
  }
});
