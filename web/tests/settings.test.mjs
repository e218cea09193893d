// The settings pages in headless Chromium against a real `parley dev`: an
// admin's Webhooks page, with a receiver run here on 127.0.0.1 (`parley
// dev` lets webhooks reach private addresses), and a customer's
// Notifications settings. The server's retry horizon is first 1s, so a
// failed delivery is dead at once (its first retry is at least 2.5s away)
// and nothing is retried behind the test's back; the last test restarts
// it with an hour's, so a failed delivery stays pending (failing) between
// retries. The tests run in order.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { call, DevServer, launchBrowser, openAs, screenshot } from "./harness.mjs";

const conv = "conv123456789"; // John ↔ Pizza Palace (demo data)
const stamp = Date.now().toString(36);

let server;
let browser;
let receiver;
let receiverURL;
/** What the receiver answers: 204, or 500 while failing. */
let failing = false;
/** The requests it got: {id, timestamp, signature, body}. */
const received = [];

before(async () => {
  receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({
        id: req.headers["webhook-id"],
        timestamp: req.headers["webhook-timestamp"],
        signature: req.headers["webhook-signature"],
        body: Buffer.concat(chunks).toString(),
        failed: failing,
      });
      res.writeHead(failing ? 500 : 204).end(failing ? "receiver down" : undefined);
    });
  });
  receiver.listen(0, "127.0.0.1");
  await once(receiver, "listening");
  receiverURL = `http://127.0.0.1:${receiver.address().port}/hooks`;
  server = await DevServer.start(["--webhook-retry-horizon", "1s"]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
  receiver?.close();
});

/** Waits until the receiver got a request matching pred. */
async function receivedWhere(pred, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = received.find(pred);
    if (r) return r;
    if (Date.now() > end) throw new Error(`the receiver got no such request (got ${received.length})`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

test("an admin registers a webhook and follows its deliveries live: succeeded, dead, replayed", async () => {
  const admin = await openAs(browser, server, "admin");
  await admin.getByTestId("nav-webhooks").click();
  await admin.getByTestId("no-webhooks").waitFor();

  // A bad URL: the server's message is shown, nothing is created.
  await admin.getByTestId("webhook-url").fill("ftp://example.com/x");
  await admin.getByTestId("create-webhook").click();
  await admin.getByTestId("webhook-error").filter({ hasText: "url must be an absolute http or https URL" }).waitFor();
  assert.equal(await admin.getByTestId("webhook").count(), 0);

  // message.created is ticked by default; the secret is generated and shown once.
  await admin.getByTestId("webhook-url").fill(receiverURL);
  await admin.getByTestId("create-webhook").click();
  const secret = (await admin.getByTestId("webhook-secret").innerText()).trim();
  assert.match(secret, /^whsec_[A-Za-z0-9+/=]+$/);
  assert.equal(await admin.getByTestId("webhook-error").count(), 0);
  const hook = admin.getByTestId("webhook").filter({ hasText: receiverURL });
  await hook.waitFor();
  assert.match(await hook.innerText(), /message\.created/);
  assert.ok(!(await hook.innerText()).includes(secret), "the list shows a hint, never the secret");
  await admin.getByTestId("dismiss-secret").click();
  assert.equal(await admin.getByTestId("created-secret").count(), 0);

  await hook.getByTestId("toggle-deliveries").click();
  await hook.getByTestId("no-deliveries").waitFor();

  // John writes (over the HTTP API): the delivery appears and succeeds, live.
  await call(server, "john", "mutation", "shared/chat:sendMessage", { conversationId: conv, content: `Hook me ${stamp}`, messageType: "text" });
  const first = hook.getByTestId("delivery").first();
  await hook.locator('[data-testid="delivery"][data-status="succeeded"]').waitFor();
  assert.equal(await first.getByTestId("delivery-status").textContent(), "succeeded");
  assert.equal(await first.getByTestId("delivery-attempts").textContent(), "1");
  assert.match(await first.getByTestId("delivery-result").innerText(), /HTTP 204/);
  assert.equal(await first.getByTestId("replay").count(), 0, "no replay for a delivery that succeeded");

  // The receiver got it, signed with the secret the page showed.
  const eventId = await first.getAttribute("data-event-id");
  const got = await receivedWhere((r) => r.id === eventId);
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const sig = createHmac("sha256", key).update(`${got.id}.${got.timestamp}.${got.body}`).digest("base64");
  assert.ok(got.signature.split(" ").includes(`v1,${sig}`), "the signature verifies with the shown secret");
  assert.equal(JSON.parse(got.body).type, "message.created");

  // The receiver fails: the next delivery fails (HTTP 500) and, past the horizon, is dead.
  failing = true;
  await call(server, "john", "mutation", "shared/chat:sendMessage", { conversationId: conv, content: `Fail me ${stamp}`, messageType: "text" });
  const dead = hook.locator('[data-testid="delivery"][data-status="dead"]');
  await dead.waitFor();
  assert.equal(await hook.getByTestId("delivery").count(), 2);
  assert.match(await dead.getByTestId("delivery-result").innerText(), /HTTP 500/);
  await screenshot(admin, "webhooks-dead-delivery");

  // Back up, replayed from the page: the same delivery succeeds, same webhook-id.
  failing = false;
  const deadId = await dead.getAttribute("data-delivery-id");
  const deadEvent = await dead.getAttribute("data-event-id");
  await dead.getByTestId("replay").click();
  const replayed = hook.locator(`[data-testid="delivery"][data-delivery-id="${deadId}"]`);
  await hook.locator(`[data-testid="delivery"][data-delivery-id="${deadId}"][data-status="succeeded"]`).waitFor();
  assert.equal(await replayed.getByTestId("delivery-attempts").textContent(), "2");
  await receivedWhere((r) => r.id === deadEvent && !r.failed);
  assert.equal(received.filter((r) => r.id === deadEvent).length, 2, "one failed try, one replayed");

  // Disabled, then deleted (after confirming): gone from the list.
  await hook.getByTestId("disable-webhook").click();
  await hook.getByTestId("webhook-state").filter({ hasText: "disabled" }).waitFor();
  await hook.getByTestId("delete-webhook").click();
  await hook.getByTestId("confirm-delete-webhook").click();
  await admin.getByTestId("no-webhooks").waitFor();
  assert.deepEqual(await call(server, "admin", "query", "shared/events:listWebhooks", {}), []);
  assert.deepEqual(admin.errors, []);
  await admin.context().close();
});

test("a customer sets digest mail, which persists; sees no Webhooks link; dev mail is linked", async () => {
  const john = await openAs(browser, server, "john");
  assert.equal(await john.getByTestId("nav-webhooks").count(), 0, "no webhooks for a customer");
  assert.equal(await john.getByTestId("nav-dev-mail").getAttribute("href"), "/dev/mail");
  assert.equal((await fetch(`${server.url}/dev/mail`)).status, 200);

  await john.getByTestId("nav-notifications").click();
  await john.getByTestId("notifications-form").waitFor();
  assert.equal(await john.getByTestId("mode-immediate").isChecked(), true, "immediate is the default");
  // The demo account has an address: it is the effective one.
  await john.getByTestId("email-source").filter({ hasText: "from your account" }).waitFor();

  await john.getByTestId("mode-digest").check();
  await john.getByTestId("save-notifications").click();
  await john.getByTestId("notifications-saved").waitFor();

  await john.reload();
  await john.getByTestId("notifications-form").waitFor();
  assert.equal(await john.getByTestId("mode-digest").isChecked(), true, "digest after a reload");
  const settings = await call(server, "john", "query", "shared/events:getNotificationSettings", {});
  assert.equal(settings.mode, "digest");

  // An address set here becomes the effective one.
  await john.getByTestId("notification-email").fill(`john-${stamp}@example.com`);
  await john.getByTestId("save-notifications").click();
  await john.getByTestId("email-source").filter({ hasText: "set here" }).waitFor();
  await john.getByTestId("effective-email").filter({ hasText: `john-${stamp}@example.com` }).waitFor();
  await screenshot(john, "notifications");

  // The admin page's path shows a customer nothing of it.
  await john.goto(`${server.url}/admin/webhooks`);
  await john.getByTestId("whoami").waitFor();
  assert.equal(await john.getByTestId("webhooks-page").count(), 0);
  assert.deepEqual(john.errors, []);
  await john.context().close();
});

test("a failing delivery shows as failing (pending) with its error, and Replay sends it again", async () => {
  server.args = ["--webhook-retry-horizon", "1h"];
  await server.restart();
  failing = true;
  received.length = 0;
  const { webhook } = await call(server, "admin", "mutation", "shared/events:createWebhook", { url: receiverURL, events: ["message.created"] });
  const admin = await openAs(browser, server, "admin", "/admin/webhooks");
  const hook = admin.locator(`[data-testid="webhook"][data-webhook-id="${webhook._id}"]`);
  await hook.getByTestId("toggle-deliveries").click();
  await hook.getByTestId("no-deliveries").waitFor();

  await call(server, "john", "mutation", "shared/chat:sendMessage", { conversationId: conv, content: `Retry me ${stamp}`, messageType: "text" });
  const row = hook.locator('[data-testid="delivery"][data-status="pending"]').filter({ hasText: "HTTP 500" }).first();
  await row.waitFor();
  assert.equal(await row.getByTestId("delivery-status").textContent(), "failing");
  const id = await row.getAttribute("data-delivery-id");
  const eventId = await row.getAttribute("data-event-id");
  const delivery = hook.locator(`[data-testid="delivery"][data-delivery-id="${id}"]`);

  // Replayed while the receiver still fails: another attempt, still failing.
  await delivery.getByTestId("replay").click();
  await receivedWhere(() => received.filter((x) => x.id === eventId).length >= 2);
  await admin.waitForFunction(
    (sel) => Number(document.querySelector(sel)?.querySelector('[data-testid="delivery-attempts"]')?.textContent) >= 2,
    `[data-testid="delivery"][data-delivery-id="${id}"]`,
  );
  assert.equal(await delivery.getAttribute("data-status"), "pending");

  // Back up and replayed: it succeeds (a scheduled retry may get there first; either way, live).
  failing = false;
  await delivery.getByTestId("replay").click();
  await hook.locator(`[data-testid="delivery"][data-delivery-id="${id}"][data-status="succeeded"]`).waitFor();
  assert.equal(await delivery.getByTestId("replay").count(), 0);
  await receivedWhere((r) => r.id === eventId && !r.failed);
  assert.deepEqual(admin.errors, []);
  await admin.context().close();
});
