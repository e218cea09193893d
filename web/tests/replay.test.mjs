// Messages typed while the server is away all go out, in order, once it is
// back, in headless Chromium against a `parley dev` of this file's own
// with a tight rate limit (5 a second, bursts of 3): convex's client
// replays the outbox's sends at once on reconnect, the server lets those
// past the burst wait for their tokens, and none shows "Failed".
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DevServer, launchBrowser, message, openAs, reconnectTimeout, screenshot, send, waitConnected } from "./harness.mjs";

const conv = "conv123456789"; // John ↔ Pizza Palace (demo data)
const stamp = Date.now().toString(36);

let server;
let browser;

before(async () => {
  server = await DevServer.start(["--message-rate", "5", "--message-burst", "3"]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** The indexes of the messages of this run shown in page's thread, oldest first. */
async function shownOrder(page) {
  const pattern = new RegExp(`offline ${stamp} #(\\d+)`);
  const shown = (await page.getByTestId("message").allInnerTexts()).flatMap((t) => {
    const m = pattern.exec(t);
    return m ? [Number(m[1])] : [];
  });
  return shown.reverse(); // the thread is a column-reverse list: newest first in the DOM
}

test("20 messages typed offline go out once the server is back: all, in order, none failed", async () => {
  const john = await openAs(browser, server, "john", `/c/${conv}`);
  const pizza = await openAs(browser, server, "pizza", `/c/${conv}`);
  await john.getByTestId("composer-input").waitFor();
  await server.stop();
  await john.getByTestId("connection-banner").filter({ hasText: "Connection lost" }).waitFor();

  const texts = Array.from({ length: 20 }, (_, i) => `offline ${stamp} #${i}`);
  for (const text of texts) await send(john, text);
  await john.getByTestId("pending").filter({ hasText: texts.at(-1) }).filter({ hasText: "Sending" }).waitFor();
  await screenshot(john, "offline-queue");

  await server.restart();
  await waitConnected(john, reconnectTimeout);
  for (const page of [john, pizza]) await message(page, texts.at(-1)).waitFor({ timeout: reconnectTimeout });
  await john.getByTestId("pending").first().waitFor({ state: "detached", timeout: reconnectTimeout });
  await screenshot(john, "offline-queue-sent");

  const want = texts.map((_, i) => i);
  assert.deepEqual(await shownOrder(john), want);
  assert.deepEqual(await shownOrder(pizza), want, "the store sees them once each, in order");
  for (const page of [john, pizza]) assert.deepEqual(page.errors.map(String), []);
});
