// A store's thread with support (store_to_admin) in headless Chromium
// against a real `parley dev`: Pizza Palace Support contacts Parley Support, an
// admin sees it arrive live in the support inbox (filtered to stores) and
// answers; the store's unread badge follows; a colleague finds the same
// thread; Burger Barn Support and John never see it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DevServer, launchBrowser, message, openAs, screenshot, send } from "./harness.mjs";

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

test("a store contacts support; support sees it live, answers; the store's badge follows", async () => {
  const pizza = await openAs(browser, server, "pizza");
  const admin = await openAs(browser, server, "admin");
  await admin.getByTestId("kind-filter").selectOption("store_to_admin");
  await admin.getByTestId("no-conversations").waitFor();

  await pizza.getByTestId("store-contact-support").click();
  await pizza.getByTestId("store-support").filter({ hasText: "Pizza Palace" }).waitFor();
  assert.equal(await pizza.getByTestId("thread-title").textContent(), "Parley Support");
  const question = `Our payouts are late ${stamp}`;
  await send(pizza, question);
  await message(pizza, question).waitFor();

  // Support's list, filtered to stores' threads, has it live, unread.
  const item = admin.getByTestId("conversation").filter({ hasText: "Pizza Palace" });
  await item.getByTestId("unread-badge").filter({ hasText: "1" }).waitFor();
  assert.match(await item.textContent(), /Store support/);
  await item.click();
  await message(admin, question).waitFor();
  await admin.getByTestId("store-support").waitFor();
  await item.getByTestId("unread-badge").waitFor({ state: "detached" });
  const answer = `Paid out today ${stamp}`;
  await send(admin, answer);
  await message(pizza, answer).waitFor();
  await message(pizza, question).getByTestId("receipt").filter({ hasText: "Read" }).waitFor();
  await screenshot(pizza, "store-support");

  // The store's list shows the answer unread while the thread is elsewhere.
  await pizza.goto(`${server.url}/`);
  const mine = pizza.getByTestId("conversation").filter({ hasText: "Parley Support" });
  await mine.getByTestId("preview").filter({ hasText: answer }).waitFor();
  await send(admin, `One more thing ${stamp}`);
  await mine.getByTestId("unread-badge").filter({ hasText: "1" }).waitFor();
  await pizza.getByTestId("kind-filter").selectOption("customer_to_store");
  await mine.waitFor({ state: "detached" });
  await pizza.getByTestId("kind-filter").selectOption("store_to_admin");
  await mine.click();
  await mine.getByTestId("unread-badge").waitFor({ state: "detached" });

  // A colleague finds the same thread; other stores and customers do not.
  const kitchen = await openAs(browser, server, "kitchen");
  await kitchen.getByTestId("store-contact-support").click();
  await message(kitchen, question).waitFor();
  for (const key of ["burger", "john"]) {
    const other = await openAs(browser, server, key);
    await other.locator('[data-testid="conversation-list"], [data-testid="no-conversations"]').first().waitFor();
    assert.equal(await other.getByTestId("conversation").filter({ hasText: question }).count(), 0);
    assert.equal(await other.getByText(`Paid out today ${stamp}`).count(), 0, `${key} sees nothing of it`);
    assert.deepEqual(other.errors, []);
    await other.context().close();
  }
  for (const page of [pizza, admin, kitchen]) assert.deepEqual(page.errors, []);
});
