// The web app in headless Chromium against a real `parley dev`: John Doe
// (customer) and Pizza Palace Support side by side in two browser contexts,
// plus Jane Roe (another customer) and the support admins. The tests run
// in order on one server; each leaves the app where the next expects it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, DevServer, launchBrowser, makePNG, message, openAs, reconnectTimeout, screenshot, send, waitConnected } from "./harness.mjs";

const conv = "conv123456789"; // John ↔ Pizza Palace, about order123456789 (demo data)
const stamp = Date.now().toString(36);

let server;
let browser;
let john;
let pizza;

before(async () => {
  server = await DevServer.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test("sign-in lists the demo identities", async () => {
  const context = await browser.newContext({ viewport: { width: 1180, height: 760 } });
  const page = await context.newPage();
  await page.goto(server.url + "/");
  for (const key of ["john", "jane", "pizza", "kitchen", "burger", "admin", "alex"]) {
    await page.getByTestId(`identity-${key}`).waitFor();
  }
  await screenshot(page, "sign-in");
  await page.getByTestId("identity-john").click();
  await page.getByTestId("whoami").filter({ hasText: "John Doe" }).waitFor();
  await context.close();
});

test("customer and store screens", async () => {
  john = await openAs(browser, server, "john");
  // Starting a chat is offered where canChatWithStore allows it, with the
  // reason where it does not (John's only Burger Barn order is cancelled).
  await john.getByTestId("store-store123456789").getByTestId("chat-with-store").waitFor();
  const reason = john.getByTestId("store-store555555555").getByTestId("cannot-chat");
  await reason.waitFor();
  assert.match(await reason.innerText(), /\w/);
  await john.getByTestId("conversation").filter({ hasText: "Pizza Palace" }).waitFor();
  await screenshot(john, "customer-conversations");

  pizza = await openAs(browser, server, "pizza");
  await pizza.getByTestId("conversation").filter({ hasText: "John Doe" }).waitFor();
  await screenshot(pizza, "store-inbox");
});

test("a message sent by one appears in the other without reload", async () => {
  await john.getByTestId("conversation").filter({ hasText: "Pizza Palace" }).click();
  await john.getByTestId("thread").waitFor();
  await pizza.getByTestId("conversation").filter({ hasText: "John Doe" }).click();
  await pizza.getByTestId("thread").waitFor();
  assert.equal(new URL(john.url()).pathname, `/c/${conv}`);

  const fromJohn = `Hi, where is my pizza? ${stamp}`;
  await send(john, fromJohn);
  await message(pizza, fromJohn).waitFor();
  await message(john, fromJohn).waitFor();

  const fromPizza = `It left the oven two minutes ago ${stamp}`;
  await send(pizza, fromPizza);
  await message(john, fromPizza).waitFor();
  // Both had the thread open: John's message shows as read on his side.
  await message(john, fromJohn).getByTestId("receipt").filter({ hasText: "Read" }).waitFor();
  await screenshot(john, "customer-thread");
  await screenshot(pizza, "store-thread");
});

test("the typing indicator appears and clears", async () => {
  const input = pizza.getByTestId("composer-input");
  await input.click();
  await input.pressSequentially("We are on ");
  const typing = john.getByTestId("typing");
  await typing.filter({ hasText: "Pizza Palace Support is typing" }).waitFor();
  await screenshot(john, "typing-indicator");
  // A pause ends typing (the client sends "stopped typing" when idle).
  await typing.waitFor({ state: "detached" });
  await input.fill("");
});

test("the unread badge goes up and clears on open", async () => {
  await john.getByRole("link", { name: "Parley" }).first().click();
  await john.getByText(/Pick a conversation/).waitFor();
  const badge = john.getByTestId("conversation").filter({ hasText: "Pizza Palace" }).getByTestId("unread-badge");
  await badge.waitFor({ state: "detached" });

  const text = `Your order is at the door ${stamp}`;
  await send(pizza, text);
  await badge.filter({ hasText: "1" }).waitFor();
  await john.waitForFunction(() => document.title === "(1) Parley");
  await john.getByTestId("unread-total").filter({ hasText: "1 unread" }).waitFor();
  await screenshot(john, "customer-unread");

  await john.getByTestId("conversation").filter({ hasText: "Pizza Palace" }).click();
  await message(john, text).waitFor();
  await badge.waitFor({ state: "detached" });
  await john.waitForFunction(() => document.title === "Parley");
  // Pizza sees its message read.
  await message(pizza, text).getByTestId("receipt").filter({ hasText: "Read" }).waitFor();
});

test("an uploaded photo appears as a thumbnail on both sides", async () => {
  const before = await john.getByTestId("thumbnail").count();
  await john.getByTestId("file-input").setInputFiles({ name: "pizza-box.png", mimeType: "image/png", buffer: makePNG(640, 480) });
  // It is previewed first; Send sends it.
  await john.getByTestId("image-draft").getByTestId("image-send").click();
  for (const page of [john, pizza]) {
    const thumb = page.getByTestId("thumbnail").nth(0);
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="thumbnail"]').length > n, before);
    await thumb.waitFor();
    // The thumbnail's signed URL loads as an image.
    await page.waitForFunction(() => {
      const img = document.querySelector('[data-testid="thumbnail"]');
      return img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0;
    });
    assert.match(await thumb.getAttribute("src"), /\/api\/storage\/[^/]+\/thumb\?/);
  }
  await john.getByTestId("pending").waitFor({ state: "detached" });
  await screenshot(john, "customer-image");
  await screenshot(pizza, "store-image");
});

test("a failed upload is shown as failed, with retry and discard", async () => {
  await john.getByTestId("file-input").setInputFiles({ name: "notes.png", mimeType: "image/png", buffer: Buffer.from("not an image") });
  await john.getByTestId("image-draft").getByTestId("image-send").click();
  const failed = john.locator('[data-testid="pending"][data-status="failed"]');
  await failed.getByText(/Not sent/).waitFor();
  await failed.getByTestId("retry").waitFor();
  await screenshot(john, "failed-upload");
  await failed.getByText("Discard").click();
  await failed.waitFor({ state: "detached" });
});

test("the store inbox counts unread messages; history scrolls up page by page; archive", async () => {
  // A second conversation, about John's other order, with more history
  // than one page (30), written over the HTTP API by both sides.
  const { conversationId } = await call(server, "john", "mutation", "shared/chat:createOrGetConversation", {
    orderId: "order987654321",
    storeId: "store123456789",
  });
  await pizza.getByRole("link", { name: "Parley" }).first().click();
  const sends = [];
  for (let i = 1; i <= 40; i++) {
    const key = i % 2 ? "john" : "pizza";
    sends.push(() =>
      call(server, key, "mutation", "shared/chat:sendMessage", {
        conversationId,
        content: `History ${String(i).padStart(2, "0")} ${stamp}`,
        messageType: "text",
      }),
    );
  }
  for (const s of sends) await s(); // in order; within the default rate limits' bursts for 2 users
  const row = pizza.getByTestId("conversation").filter({ hasText: `History 40 ${stamp}` });
  await row.getByTestId("unread-badge").filter({ hasText: "20" }).waitFor();
  await screenshot(pizza, "store-inbox-unread");

  await row.click();
  await message(pizza, `History 40 ${stamp}`).waitFor();
  await row.getByTestId("unread-badge").waitFor({ state: "detached" });
  const oldest = message(pizza, `History 01 ${stamp}`);
  assert.equal(await oldest.count(), 0, "the first page holds the newest 30 only");
  // Scrolling up loads the older page.
  await pizza.getByTestId("history-edge").scrollIntoViewIfNeeded();
  await oldest.waitFor();
  await pizza.locator('[data-testid="history-edge"][data-status="Exhausted"]').waitFor();
  await screenshot(pizza, "store-history");

  // Archiving moves it from the active list to the archived one.
  await pizza.getByTestId("archive").click();
  await row.waitFor({ state: "detached" });
  await pizza.getByRole("tab", { name: "Archived" }).click();
  await pizza
    .getByTestId("conversation")
    .filter({ hasText: `History 40 ${stamp}` })
    .waitFor();
  await pizza.getByRole("tab", { name: "Active" }).click();
  await pizza.goto(`${server.url}/c/${conv}`);
  await pizza.getByTestId("thread").waitFor();
  await waitConnected(pizza);
});

test("a customer cannot open another customer's conversation by URL", async () => {
  const jane = await openAs(browser, server, "jane", `/c/${conv}`);
  await jane.getByTestId("not-found").filter({ hasText: "Conversation not found" }).waitFor();
  const body = await jane.locator("body").innerText();
  assert.doesNotMatch(body, /Thank you for your help|where is my pizza/);
  assert.equal(await jane.getByTestId("message").count(), 0);
  await screenshot(jane, "not-found");
  await jane.context().close();
});

test("support console: reply, transfer, block, system notice, delete, unblock", async () => {
  await john.getByTestId("contact-support").click();
  await john.waitForURL(/\/c\/(?!conv123456789)[^/]+$/);
  await john.getByTestId("thread-title").filter({ hasText: "Parley Support" }).waitFor();
  const question = `My coupon does not work ${stamp}`;
  await send(john, question);
  await message(john, question).waitFor();
  const supportPath = new URL(john.url()).pathname;

  const admin = await openAs(browser, server, "admin");
  await admin.getByTestId("conversation").filter({ hasText: question }).click();
  await message(admin, question).waitFor();
  const answer = `Let me check that for you ${stamp}`;
  await send(admin, answer);
  await message(john, answer).waitFor();

  await admin.getByLabel("Transfer to").selectOption({ label: "Alex Admin" });
  await admin.getByTestId("transfer").click();
  await john.getByTestId("notice").filter({ hasText: "transferred this conversation to Alex Admin" }).waitFor();

  await admin.getByTestId("block").click();
  await admin.getByTestId("blocked-tag").waitFor();
  await john.getByTestId("composer-blocked").waitFor();
  await john.getByTestId("notice").filter({ hasText: "Support blocked this conversation" }).waitFor();

  const notice = `Coupons are paused today ${stamp}`;
  await send(admin, notice); // blocked: the composer posts system notices only
  await john.getByTestId("notice").filter({ hasText: notice }).waitFor();

  await message(admin, question).hover();
  await message(admin, question).getByTestId("delete-message").click();
  await john.getByTestId("message").filter({ hasText: "Message deleted" }).waitFor();
  await screenshot(admin, "support-console");

  await admin.getByTestId("unblock").click();
  await john.getByTestId("composer-input").waitFor();
  await screenshot(john, "customer-support-thread");
  await admin.context().close();

  // Back to the store conversation for the last test.
  await john.goto(server.url + `/c/${conv}`);
  await john.getByTestId("thread").waitFor();
  assert.notEqual(supportPath, `/c/${conv}`);
});

test("a location message shows its label, point and a map link", async () => {
  const label = `Pickup at gate 3 ${stamp}`;
  await call(server, "pizza", "mutation", "shared/chat:sendMessage", {
    conversationId: conv,
    content: "",
    messageType: "location",
    location: { lat: 52.52, lng: 13.405, label },
  });
  const shown = john.getByTestId("location").filter({ hasText: label });
  await shown.waitFor();
  assert.match(await shown.innerText(), /52\.52000, 13\.40500/);
  assert.match(await shown.getAttribute("href"), /openstreetmap\.org\/\?mlat=52\.52&mlon=13\.405/);
});

test("an edit shows on both sides, with its versions", async () => {
  await pizza.goto(`${server.url}/c/${conv}`);
  await pizza.getByTestId("thread").waitFor();
  const first = `Two large pizzas ${stamp}`;
  const second = `Three large pizzas ${stamp}`;
  await send(john, first);
  await message(pizza, first).waitFor();
  await message(john, first).getByTestId("edit-message").click();
  await john.getByTestId("edit-input").fill(second);
  await john.getByTestId("edit-save").click();
  const edited = message(pizza, second);
  await edited.getByTestId("edited").waitFor();
  await edited.getByTestId("edited").click();
  await edited.getByTestId("version").filter({ hasText: first }).waitFor();
  await edited.getByTestId("version").filter({ hasText: second }).waitFor();
  assert.equal(await edited.getByTestId("edit-message").count(), 0, "only the sender may edit");
  await screenshot(pizza, "edited-message");
});

test("a scheduled call appears as a meeting card with its join link", async () => {
  const title = `Catering tasting ${stamp}`;
  await pizza.getByTestId("schedule-call").click();
  await pizza.getByTestId("meeting-title").fill(title);
  await pizza.getByTestId("meeting-url").fill("javascript:alert(1)");
  await pizza.getByTestId("meeting-send").click();
  await pizza.getByRole("alert").filter({ hasText: "meeting.joinUrl must be an absolute http or https URL" }).waitFor();
  await pizza.getByTestId("meeting-url").fill("https://meet.example/pizza-42");
  await pizza.getByTestId("meeting-send").click();
  const card = john.getByTestId("meeting").filter({ hasText: title });
  await card.waitFor();
  assert.equal(await card.getByTestId("meeting-join").getAttribute("href"), "https://meet.example/pizza-42");
  assert.match(await card.innerText(), /30 min/);
  await screenshot(john, "meeting");
});

test("a store's chat switch turns the composer read-only, live, and back", async () => {
  await john.getByTestId("composer-input").waitFor();
  server.appSql("UPDATE stores SET chat_enabled = false WHERE id = 'store123456789'");
  await john.getByTestId("composer-chat-off").waitFor();
  await pizza.getByTestId("composer-chat-off").waitFor();
  await message(john, `Three large pizzas ${stamp}`).waitFor(); // the thread still reads
  await screenshot(john, "chat-off");
  server.appSql("UPDATE stores SET chat_enabled = true WHERE id = 'store123456789'");
  await john.getByTestId("composer-input").waitFor();
});

test("search finds a message live and opens its conversation", async () => {
  const word = `zucchini${stamp}`;
  await pizza.getByTestId("search-input").fill(word);
  await pizza.getByTestId("search-empty").waitFor();
  await send(john, `Can I add ${word} to the order?`);
  const hit = pizza.getByTestId("search-result").filter({ hasText: word });
  await hit.waitFor(); // live: the result list takes in the new message
  await hit.click();
  await pizza.waitForURL(`**/c/${conv}`);
  // Jane, another customer, finds none of it.
  const jane = await openAs(browser, server, "jane");
  await jane.getByTestId("search-input").fill(word);
  await jane.getByTestId("search-empty").waitFor();
  await jane.context().close();
  await pizza.getByTestId("search-input").fill("");
});

test("a subject set by the customer shows in the store's header, with a notice", async () => {
  const subject = `Late delivery ${stamp}`;
  await john.getByTestId("subject-edit").click();
  await john.getByTestId("subject-input").fill(subject);
  await john.getByTestId("subject-save").click();
  await pizza.getByTestId("subject").filter({ hasText: subject }).waitFor();
  await pizza
    .getByTestId("notice")
    .filter({ hasText: `John Doe changed the subject to “${subject}”` })
    .waitFor();
});

test("the store closes a conversation and reopens it", async () => {
  await pizza.goto(`${server.url}/c/${conv}`);
  await pizza.getByTestId("thread").waitFor();
  await john.getByTestId("composer-input").waitFor();
  await pizza.getByTestId("close").click();
  await john.getByTestId("composer-closed").waitFor();
  await john.getByTestId("notice").filter({ hasText: "Pizza Palace Support closed this conversation" }).waitFor();
  await pizza.getByTestId("reopen").waitFor();
  await screenshot(john, "closed-conversation");
  await pizza.getByTestId("reopen").click();
  await john.getByTestId("composer-input").waitFor();
  await john.getByTestId("notice").filter({ hasText: "Pizza Palace Support reopened this conversation" }).waitFor();
  const after = `Back again ${stamp}`;
  await send(john, after);
  await message(pizza, after).waitFor();
});

test("a customer starts a group with two of the store's staff; it is live for each", async () => {
  const title = `Party ${stamp}`;
  await john.goto(`${server.url}/`);
  await john.getByTestId("new-group").click();
  await john.getByTestId("add-pizza").check();
  await john.getByTestId("add-kitchen").check();
  await john.getByLabel("Group title").fill(title);
  await john.getByTestId("create-group").click();
  await john.getByTestId("thread-title").filter({ hasText: title }).waitFor();
  assert.match(await john.getByTestId("group-members").innerText(), /you, Pizza Palace Support, Pizza Palace Kitchen/);
  await john.getByTestId("notice").filter({ hasText: "John Doe created this group" }).waitFor();

  // Each member sees it arrive in their list, with their own unread count.
  const kitchen = await openAs(browser, server, "kitchen");
  const group = (page) => page.getByTestId("group").filter({ hasText: title });
  await group(kitchen).waitFor();
  const first = `Twelve pizzas for Friday ${stamp}`;
  await send(john, first);
  await message(john, first).waitFor();
  await pizza.goto(`${server.url}/`);
  await group(pizza).getByTestId("unread-badge").filter({ hasText: "2" }).waitFor();
  await group(kitchen).getByTestId("preview").filter({ hasText: first }).waitFor();
  await screenshot(pizza, "group-in-list");

  // The kitchen opens it and answers; John sees the answer, the store's
  // other member sees it counted.
  await group(kitchen).click();
  await message(kitchen, first).waitFor();
  const answer = `Which toppings? ${stamp}`;
  await send(kitchen, answer);
  await message(john, answer).waitFor();
  await group(pizza).getByTestId("unread-badge").filter({ hasText: "3" }).waitFor();
  await screenshot(john, "group-thread");
  // John's message says whom it reached, and when: the kitchen has read
  // it (it opened the thread); the other member has not opened it.
  const receipt = message(john, first).getByTestId("receipt");
  await receipt.locator("summary").click();
  await receipt
    .locator('[data-testid="receipt-of"][data-user-id="user222222222"]')
    .filter({ hasText: /Pizza Palace Kitchen: read \d/ })
    .waitFor();
  assert.match(
    await receipt.locator('[data-testid="receipt-of"][data-user-id="user123456789"]').innerText(),
    /Pizza Palace Support: not yet delivered/,
  );

  // A user the customer may not add is refused with the server's reason.
  await john.goto(`${server.url}/`);
  await john.getByTestId("new-group").click();
  await john.getByTestId("add-jane").check();
  await john.getByTestId("create-group").click();
  await john.getByRole("alert").filter({ hasText: "User not found: cust555555555" }).waitFor();
  await kitchen.context().close();
  // Back where the next test expects them: the demo conversation.
  for (const page of [john, pizza]) {
    await page.goto(`${server.url}/c/${conv}`);
    await page.getByTestId("composer-input").waitFor();
  }
});

test("a customer opens a direct message to support; the admin sees it arrive live and answers", async () => {
  const admin = await openAs(browser, server, "admin");
  await admin.getByTestId("no-directs").waitFor();
  await john.goto(`${server.url}/`);
  await john.getByTestId("new-direct").click();
  await john.getByTestId("direct-person").selectOption({ label: "Parley Support · admin" });
  await john.getByTestId("open-direct").click();
  await john.getByTestId("direct-members").filter({ hasText: "direct:" }).waitFor();
  const question = `Can I change my address? ${stamp}`;
  await send(john, question);
  await message(john, question).waitFor();

  const item = admin.getByTestId("direct").filter({ hasText: "John Doe" });
  await item.getByTestId("unread-badge").filter({ hasText: "1" }).waitFor();
  await item.click();
  await message(admin, question).waitFor();
  const answer = `Yes, until it ships ${stamp}`;
  await send(admin, answer);
  await message(john, answer).waitFor();
  await message(john, question).getByTestId("receipt").filter({ hasText: "Read" }).waitFor();
  await screenshot(john, "direct-message");
  // Nobody else has it: the store's list stays empty.
  await pizza.goto(`${server.url}/`);
  await pizza.getByTestId("no-directs").waitFor();
  await admin.context().close();
  await john.goto(`${server.url}/c/${conv}`);
  await john.getByTestId("composer-input").waitFor();
  await pizza.goto(`${server.url}/c/${conv}`);
  await pizza.getByTestId("composer-input").waitFor();
});

test("receipts go sent → delivered (a hidden tab received it) → read (looked at); participants show who is online", async () => {
  // Pizza Palace Support away from the thread; the kitchen has it open in a tab
  // it is not looking at.
  await pizza.goto(`${server.url}/`);
  await pizza.getByTestId("whoami").waitFor();
  const context = await browser.newContext({ viewport: { width: 1180, height: 760 } });
  await context.addInitScript(() => {
    window.__hidden = true;
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (window.__hidden ? "hidden" : "visible") });
  });
  const kitchen = await context.newPage();
  await kitchen.goto(`${server.url}/c/${conv}?as=kitchen`);
  await kitchen.getByTestId("thread").waitFor();
  await waitConnected(kitchen);

  const text = `Extra cheese on that one ${stamp}`;
  await send(john, text);
  const receipt = message(john, text).getByTestId("receipt");
  await receipt.filter({ hasText: "Delivered" }).waitFor();
  assert.equal(await receipt.getAttribute("data-status"), "delivered");
  await message(kitchen, text).waitFor();
  await screenshot(john, "receipt-delivered");

  // The kitchen looks: read.
  await kitchen.evaluate(() => {
    window.__hidden = false;
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await receipt.filter({ hasText: "Read" }).waitFor();

  // John sees the kitchen online; when its tab closes, offline, live.
  const member = john.locator(`[data-testid="participant"][data-user-id="user222222222"]`);
  await member.and(john.locator('[data-online="true"]')).waitFor();
  await screenshot(john, "participants");
  await context.close();
  await member.and(john.locator('[data-online="false"]')).waitFor();
  assert.match(await member.innerText(), /Pizza Palace Kitchen · seen/);

  await pizza.goto(`${server.url}/c/${conv}`);
  await pizza.getByTestId("composer-input").waitFor();
});

test("after a server restart the page reconnects and keeps working", async () => {
  await waitConnected(john);
  await waitConnected(pizza);
  await server.stop();
  await john.getByTestId("connection-banner").filter({ hasText: "Connection lost" }).waitFor();

  // A message sent while offline is kept and shown as sending, not lost.
  const offline = `Sent while the server was down ${stamp}`;
  await send(john, offline);
  await john.getByTestId("pending").filter({ hasText: offline }).filter({ hasText: "Sending" }).waitFor();
  await screenshot(john, "offline");

  await server.restart();
  await waitConnected(john, reconnectTimeout);
  await waitConnected(pizza, reconnectTimeout);
  await john.getByTestId("connection-banner").waitFor({ state: "detached" });
  await message(pizza, offline).waitFor({ timeout: reconnectTimeout });
  await john.getByTestId("pending").waitFor({ state: "detached" });
  assert.equal(await message(pizza, offline).count(), 1, "sent once");

  const after = `Back online ${stamp}`;
  await send(pizza, after);
  await message(john, after).waitFor();
  await screenshot(john, "reconnected");

  for (const page of [john, pizza]) assert.deepEqual(page.errors.map(String), []);
});
