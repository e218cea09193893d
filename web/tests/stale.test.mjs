// The web app while its server cannot follow the database, in headless
// Chromium against a `parley dev` of this file's own (the chat tests'
// server is not disturbed): the database refuses new connections and the
// server's connections to it are ended. The page stays connected and says
// its data may be out of date; a message sent meanwhile meets an
// unreachable database (the server answers unavailable) and stays
// "Sending…", never "Failed", until it goes through, once.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DevServer, launchBrowser, message, openAs, reconnectTimeout, screenshot, send, timeout } from "./harness.mjs";

const conv = "conv123456789"; // John ↔ Pizza Palace (demo data)
const stamp = Date.now().toString(36);

let server;
let browser;

before(async () => {
  // A short grace: a mutation fails as unavailable soon after the
  // database goes away, instead of after 10s.
  server = await DevServer.start(["--db-grace", "300ms"]);
  browser = await launchBrowser();
});

after(async () => {
  try {
    server?.allowConnections(true);
  } finally {
    await browser?.close();
    await server?.close();
  }
});

/** How many mutations the server has logged as failed (unavailable ones at warn level). */
const failures = () => server.log.split('msg="mutation failed" function=shared/chat:sendMessage').length - 1;

/** Polls until cond() holds. */
async function until(cond, what, ms = reconnectTimeout) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("the stale banner shows while the server cannot follow its database; a message sent meanwhile stays Sending", async () => {
  const john = await openAs(browser, server, "john", `/c/${conv}`);
  const pizza = await openAs(browser, server, "pizza", `/c/${conv}`);
  await john.getByTestId("thread").waitFor();
  assert.equal(await john.getByTestId("stale-banner").count(), 0, "no banner while all is well");

  server.allowConnections(false);
  assert.ok(server.terminate("walsender") > 0, "no walsender to terminate");
  await john.getByTestId("stale-banner").filter({ hasText: "may be out of date" }).waitFor();
  await pizza.getByTestId("stale-banner").waitFor();
  assert.equal(await john.locator('[data-testid="connection"][data-state="connected"]').count(), 1, "still connected");
  assert.ok((await john.getByTestId("message").count()) > 0, "the thread keeps its messages");

  // Every connection gone and none allowed: the send meets an unreachable
  // database, the server answers unavailable, the client retries.
  server.terminate("all");
  const text = `Sent while the database was away ${stamp}`;
  const before = failures();
  await send(john, text);
  const pending = john.getByTestId("pending").filter({ hasText: text });
  await pending.filter({ hasText: "Sending" }).waitFor();
  await until(() => failures() > before, "the server to refuse the send as unavailable");
  assert.match(server.log, /mutation failed" function=shared\/chat:sendMessage[^\n]*not currently accepting connections/);
  await screenshot(john, "stale");
  assert.equal(await pending.filter({ hasText: "Failed" }).count(), 0, "not shown as failed");
  assert.equal(await pending.filter({ hasText: "Sending" }).count(), 1, "still sending");

  server.allowConnections(true);
  await john.getByTestId("stale-banner").waitFor({ state: "detached", timeout: reconnectTimeout });
  await pizza.getByTestId("stale-banner").waitFor({ state: "detached", timeout: reconnectTimeout });
  await message(pizza, text).waitFor({ timeout: reconnectTimeout });
  await pending.waitFor({ state: "detached", timeout });
  assert.equal(await message(pizza, text).count(), 1, "sent once");
  for (const page of [john, pizza]) assert.deepEqual(page.errors.map(String), []);
});
