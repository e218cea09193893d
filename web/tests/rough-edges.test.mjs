// Rough edges a newcomer met (issue 24, items 7 and 8), in headless Chromium
// against a real `parley dev`: a picked image is previewed with a caption
// before it is sent (Cancel sends nothing); on a phone-width screen the
// thread has a back control and the connection state shows; orders read as
// a date, a total and a status, not as raw ids; an avatar has one colour in
// every window; the store's demo identity is "Pizza Palace Support".
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, DevServer, launchBrowser, makePNG, message, openAs, screenshot, send, timeout, waitConnected } from "./harness.mjs";

const conv = "conv123456789"; // John ↔ Pizza Palace, about order123456789 (demo data)
const stamp = Date.now().toString(36);

let server;
let browser;
let john;
let pizza;

before(async () => {
  server = await DevServer.start();
  browser = await launchBrowser();
  john = await openAs(browser, server, "john", `/c/${conv}`);
  pizza = await openAs(browser, server, "pizza", `/c/${conv}`);
  await john.getByTestId("thread").waitFor();
  await pizza.getByTestId("thread").waitFor();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const thumbs = (page) => page.getByTestId("message").getByTestId("thumbnail");

test("a picked image is previewed with a caption; Cancel sends nothing, Send sends it with the caption", async () => {
  const johnBefore = await thumbs(john).count();
  const pizzaBefore = await thumbs(pizza).count();

  // Picking shows the preview, and sends nothing.
  await john.getByTestId("file-input").setInputFiles({ name: "first-try.png", mimeType: "image/png", buffer: makePNG(320, 240) });
  const draft = john.getByTestId("image-draft");
  await draft.waitFor();
  await john.waitForFunction(() => {
    const img = document.querySelector('[data-testid="image-draft-thumb"]');
    return img instanceof HTMLImageElement && img.complete && img.naturalWidth === 320;
  });
  await draft.getByTestId("image-caption").waitFor();
  await draft.getByTestId("image-send").waitFor();
  assert.equal(await john.getByTestId("pending").count(), 0, "picking an image must not start sending it");
  await screenshot(john, "image-draft");

  // Cancel discards it: a text sent afterwards arrives, and no image came before it.
  await draft.getByTestId("image-caption").fill(`not this one ${stamp}`);
  await draft.getByTestId("image-cancel").click();
  await draft.waitFor({ state: "detached" });
  const marker = `after the cancelled image ${stamp}`;
  await send(john, marker);
  await message(pizza, marker).waitFor();
  await message(john, marker).waitFor();
  assert.equal(await thumbs(pizza).count(), pizzaBefore, "a cancelled image reached the other side");
  assert.equal(await thumbs(john).count(), johnBefore, "a cancelled image was sent");
  assert.equal(await message(pizza, `not this one ${stamp}`).count(), 0, "a cancelled caption was sent");
  assert.equal(await john.getByTestId("pending").count(), 0);

  // Send uploads it, with the caption as the message's content.
  const caption = `The box arrived like this ${stamp}`;
  await john.getByTestId("file-input").setInputFiles({ name: "box.png", mimeType: "image/png", buffer: makePNG(640, 480) });
  await draft.waitFor();
  await draft.getByTestId("image-caption").fill(caption);
  await draft.getByTestId("image-send").click();
  await draft.waitFor({ state: "detached" });
  for (const page of [john, pizza]) {
    const m = message(page, caption);
    await m.waitFor();
    await m.getByTestId("thumbnail").waitFor();
    await page.waitForFunction((text) => {
      const msg = [...document.querySelectorAll('[data-testid="message"]')].find((el) => el.textContent.includes(text));
      const img = msg?.querySelector('[data-testid="thumbnail"]');
      return img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0;
    }, caption);
  }
  await john.getByTestId("pending").waitFor({ state: "detached" });
  assert.equal(await thumbs(pizza).count(), pizzaBefore + 1);
  await screenshot(pizza, "image-with-caption");
});

test("on a phone-width screen the thread has a back control and the connection state shows", async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  try {
    await page.goto(`${server.url}/c/${conv}?as=john`);
    await page.getByTestId("thread").waitFor();
    await waitConnected(page);
    const inView = async (locator, what) => {
      assert.ok(await locator.isVisible(), `${what} is not visible`);
      const box = await locator.boundingBox();
      assert.ok(box && box.width > 0 && box.height > 0, `${what} has no size`);
      assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.width <= 390 && box.y + box.height <= 844, `${what} is off screen: ${JSON.stringify(box)}`);
    };
    // The thread alone (the list is hidden), with its back control and the connection dot.
    assert.equal(await page.getByTestId("conversation-list").isVisible(), false);
    await inView(page.getByTestId("thread-back"), "the back control");
    const conn = page.locator('[data-testid="connection"][data-state="connected"]');
    await inView(conn, "the connection state");
    await inView(conn.locator(".dot"), "the connection dot");
    assert.match((await conn.getAttribute("title")) ?? "", /Connected/);
    await screenshot(page, "phone-thread");

    // Back goes to the conversation list, where the connection state still shows.
    await page.getByTestId("thread-back").click();
    await page.waitForURL((u) => u.pathname === "/");
    await page.getByTestId("conversation-list").waitFor();
    await inView(page.getByTestId("conversation").filter({ hasText: "Pizza Palace" }).first(), "the conversation");
    await inView(page.getByTestId("connection"), "the connection state on the list");
    assert.equal(await page.getByTestId("thread").count(), 0);
    await screenshot(page, "phone-list");

    // On a wide screen the list is beside the thread: no back control.
    await page.setViewportSize({ width: 1180, height: 760 });
    await page.getByTestId("conversation").filter({ hasText: "Pizza Palace" }).first().click();
    await page.getByTestId("thread").waitFor();
    assert.equal(await page.getByTestId("thread-back").isVisible(), false);
    assert.ok(await page.getByTestId("connection").isVisible());
  } finally {
    await context.close();
  }
});

test("orders read as the store, date, total and status, not as raw ids", async () => {
  const detail = await call(server, "john", "query", "shared/chat:getConversation", { conversationId: conv });
  const o = detail.orderSummary;
  assert.ok(o, "the demo conversation has an order summary");
  // What the page should show, formatted in the page's own locale.
  const expect = await john.evaluate(
    ({ total, date }) => ({
      total: total.toLocaleString(undefined, { style: "currency", currency: "USD" }),
      date: new Date(date).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" }),
    }),
    { total: o.totalAmount, date: o.orderDate },
  );
  const status = new RegExp(o.status, "i");

  const check = async (locator, what) => {
    await locator.filter({ hasText: expect.total }).waitFor();
    const text = await locator.innerText();
    assert.ok(!text.includes(o._id), `${what} shows the raw order id: ${text}`);
    assert.ok(text.includes(expect.date), `${what} lacks the order date ${expect.date}: ${text}`);
    assert.ok(text.includes(expect.total), `${what} lacks the total ${expect.total}: ${text}`);
    assert.match(text, status, `${what} lacks the status`);
  };
  // The thread header, on both sides; the header names the store.
  for (const page of [john, pizza]) {
    await check(page.getByTestId("thread-order"), "the thread header");
    assert.match(await page.getByTestId("thread").locator(".thread-header").innerText(), /Pizza Palace/);
  }
  // The conversation lists: John's (under the store's name) and the store's.

  const row = (page) => page.locator(`[data-testid="conversation"][data-conversation-id="${conv}"]`);
  await check(row(john).getByTestId("order-label"), "John's list");
  assert.match(await row(john).locator(".conv-title").innerText(), /Pizza Palace/);
  await check(row(pizza).getByTestId("order-label"), "the store's list");

  // Where only the id is known (the orders John may start a chat about), a
  // short reference stands in for the raw id.
  const options = await john.getByTestId("store-store123456789").locator("option").allInnerTexts();
  assert.ok(options.length > 0);
  for (const t of options) assert.ok(!/order\d{6,}/.test(t), `an order option shows a raw id: ${t}`);
  await screenshot(john, "orders");
});

test("an avatar has the same colour in every window", async () => {
  const colour = (locator) => locator.evaluate((el) => getComputedStyle(el).backgroundColor);
  const johnSelf = await colour(john.getByTestId("whoami").getByTestId("avatar"));
  // John as the store sees him, and as support sees him.
  const johnAtPizza = await colour(pizza.locator(`[data-testid="conversation"][data-conversation-id="${conv}"]`).getByTestId("avatar"));
  assert.equal(johnAtPizza, johnSelf, "John's avatar differs between his window and the store's");

  const admin = await openAs(browser, server, "admin");
  try {
    await call(server, "john", "mutation", "shared/chat:createOrGetConversation", {});
    const supportRow = admin.getByTestId("conversation").filter({ hasText: "John Doe" }).first();
    await supportRow.waitFor();
    assert.equal(await colour(supportRow.getByTestId("avatar")), johnSelf, "John's avatar differs in the support console");

    // The store's staff: the same in their own windows (reloaded, and a second window).
    const pizzaSelf = await colour(pizza.getByTestId("whoami").getByTestId("avatar"));
    const again = await openAs(browser, server, "pizza");
    assert.equal(await colour(again.getByTestId("whoami").getByTestId("avatar")), pizzaSelf);
    await again.context().close();

    // The colour follows the id: the sign-in card shows John's as his session does.
    const context = await browser.newContext({ viewport: { width: 1180, height: 760 } });
    const page = await context.newPage();
    await page.goto(server.url + "/");
    assert.equal(await colour(page.getByTestId("identity-john").getByTestId("avatar")), johnSelf);
    // Different people are not all one colour.
    const keys = ["john", "jane", "pizza", "kitchen", "burger", "admin", "alex"];
    const colours = new Set();
    for (const k of keys) colours.add(await colour(page.getByTestId(`identity-${k}`).getByTestId("avatar")));
    assert.ok(colours.size > 1, "every avatar has the same colour");
    // Item 8: the store's demo identity is called Pizza Palace Support on the card.
    assert.match(await page.getByTestId("identity-pizza").innerText(), /Pizza Palace Support/);
    await context.close();
  } finally {
    await admin.context().close();
  }
});
