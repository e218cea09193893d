// The support desk (issue 19) in headless Chromium against a real `parley
// dev`: a customer (Jane) asks for an agent from her support conversation
// and sees her place in the queue and an ETA counting down; two agents
// (the demo admins, on the Support desk) see her request live, with its
// wait counting up; both pick next at once and exactly one gets her, the
// other is told why; the first transfers her to the second, who closes the
// chat and downloads its transcript, which holds what Jane wrote. Jane asks
// again: the agent who picks her sees the closed chat under her previous
// conversations, and the second one joins it, live, once closed too.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { DevServer, launchBrowser, message, openAs, screenshot, send } from "./harness.mjs";

const stamp = Date.now().toString(36);
const agents = { admin: { sub: "admin123456789", name: "Parley Support" }, alex: { sub: "admin987654321", name: "Alex Admin" } };

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

/** The number a data attribute of the first element matching testId holds, once it has one. */
async function dataNumber(page, testId, attr) {
  const v = await page.getByTestId(testId).first().getAttribute(attr);
  return v === null || v === "" ? null : Number(v);
}

test("request → queue → pick-next race → transfer → close → transcript", async () => {
  // Both agents open the desk: their presence goes online.
  const desks = {};
  for (const key of Object.keys(agents)) {
    const page = await openAs(browser, server, key, "/admin/support");
    await page.getByTestId("support-desk").waitFor();
    await page.locator('[data-testid="agent-profile"][data-effective="online"]').waitFor();
    await page.getByTestId("queue-empty").waitFor();
    desks[key] = page;
  }

  // Jane opens her support conversation, writes, and asks for an agent.
  const jane = await openAs(browser, server, "jane");
  await jane.getByTestId("contact-support").click();
  await jane.getByTestId("thread").waitFor();
  const text = `My parcel never arrived ${stamp}`;
  await send(jane, text);
  await message(jane, text).waitFor();
  await jane.getByTestId("request-topic").fill("Delivery");
  await jane.getByTestId("request-agent").click();

  // Her place (first) and an ETA (two agents online), counting down each second.
  await jane.locator('[data-testid="queue-widget"][data-state="queued"]').waitFor();
  assert.equal(await jane.getByTestId("queue-position").innerText(), "1");
  await jane.locator('[data-testid="queue-eta"]:not([data-eta=""])').waitFor();
  const eta = await dataNumber(jane, "queue-eta", "data-eta");
  assert.ok(eta > 0, `an ETA: ${eta}`);
  await jane.waitForFunction(
    (first) => Number(document.querySelector('[data-testid="queue-eta"]')?.dataset.eta) < first,
    eta,
  );
  const conversationId = await jane.getByTestId("thread").getAttribute("data-conversation-id");
  await screenshot(jane, "support-customer-waiting");

  // Both agents see her request live: position 1, her message, the wait counting up.
  for (const page of Object.values(desks)) {
    const row = page.locator(`[data-testid="queue-row"][data-conversation-id="${conversationId}"]`);
    await row.waitFor();
    assert.equal(await row.getByTestId("queue-row-position").innerText(), "1");
    assert.match(await row.innerText(), /Jane Roe/);
    assert.match(await row.getByTestId("queue-row-preview").innerText(), new RegExp(stamp));
    const wait = await row.getByTestId("queue-row-wait").innerText();
    await page.waitForFunction(
      ([id, w]) => document.querySelector(`[data-testid="queue-row"][data-conversation-id="${id}"] [data-testid="queue-row-wait"]`)?.textContent !== w,
      [conversationId, wait],
    );
  }
  await screenshot(desks.admin, "support-desk-queue");

  // Both pick next at once: exactly one gets Jane, the other is told why.
  await Promise.all(Object.values(desks).map((p) => p.getByTestId("pick-next").click()));
  const results = {};
  for (const [key, page] of Object.entries(desks)) {
    await page.getByTestId("pick-result").waitFor();
    results[key] = {
      picked: await page.getByTestId("pick-result").getAttribute("data-picked"),
      reason: await page.getByTestId("pick-result").getAttribute("data-reason"),
    };
  }
  const winners = Object.keys(results).filter((k) => results[k].picked === "true");
  assert.equal(winners.length, 1, JSON.stringify(results));
  const winner = winners[0];
  const other = winner === "admin" ? "alex" : "admin";
  assert.equal(results[other].reason, "queue_empty");
  assert.match(await desks[other].getByTestId("pick-result").innerText(), /Nothing picked: Nobody is waiting/);

  // The winner has her chat open, with her message; the queue empties for both; Jane sees who.
  const w = desks[winner];
  await w.locator(`[data-testid="desk-chat"][data-conversation-id="${conversationId}"]`).waitFor();
  await message(w, text).waitFor();
  await w.locator(`[data-testid="active-chat"][data-conversation-id="${conversationId}"]`).waitFor();
  await w.locator('[data-testid="desk-chat-status"]', { hasText: "yours" }).waitFor();
  await w.getByTestId("desk-request").filter({ hasText: "Delivery" }).waitFor();
  for (const page of Object.values(desks)) await page.getByTestId("queue-empty").waitFor();
  await jane.getByTestId("queue-assigned").filter({ hasText: agents[winner].name }).waitFor();
  await screenshot(w, "support-desk-picked");

  // Transfer to the other agent (online, from getOnlineAgents), with a note.
  const to = w.getByTestId("desk-transfer-to");
  await to.locator(`option[value="agent:${agents[other].sub}"]`).waitFor({ state: "attached" });
  await to.selectOption(`agent:${agents[other].sub}`);
  await w.getByTestId("desk-transfer-note").fill("Parcel question, over to you");
  await w.getByTestId("desk-transfer").click();
  await w.locator(`[data-testid="active-chat"][data-conversation-id="${conversationId}"]`).waitFor({ state: "detached" });
  await jane.getByTestId("queue-assigned").filter({ hasText: agents[other].name }).waitFor();

  // The other agent has it among their chats, live; opens it and closes it.
  const o = desks[other];
  const chat = o.locator(`[data-testid="active-chat"][data-conversation-id="${conversationId}"]`);
  await chat.waitFor();
  await chat.click();
  await o.locator('[data-testid="desk-chat-status"]', { hasText: "yours" }).waitFor();
  await message(o, text).waitFor();
  await o.getByTestId("desk-close-reason").fill("Parcel found");
  await o.getByTestId("desk-close").click();
  await o.locator('[data-testid="desk-chat-status"]', { hasText: "closed" }).waitFor();
  await chat.waitFor({ state: "detached" });
  await jane.locator('[data-testid="queue-widget"][data-state="closed"]').waitFor();

  // The transcript downloads as text with Jane's message, the transfer and the close.
  const [download] = await Promise.all([o.waitForEvent("download"), o.getByTestId("transcript").click()]);
  const transcript = await readFile(await download.path(), "utf8");
  assert.match(download.suggestedFilename(), /\.txt$/);
  assert.ok(transcript.includes(text), transcript);
  assert.match(transcript, /Transferred to/);
  assert.match(transcript, /Parcel found/);
  await screenshot(o, "support-desk-closed");

  // Jane asks again, in the same conversation; the agent picks her and
  // sees the first chat under her previous conversations: its topic, its
  // agent and why it closed, marked as this chat's.
  await jane.getByTestId("request-topic").fill("Refund");
  await jane.getByTestId("request-agent").click();
  await jane.locator('[data-testid="queue-widget"][data-state="queued"]').waitFor();
  await o.getByTestId("pick-next").click();
  await o.locator('[data-testid="pick-result"][data-picked="true"]').waitFor();
  await o.locator(`[data-testid="desk-chat"][data-conversation-id="${conversationId}"]`).waitFor();
  await o.locator('[data-testid="desk-chat-status"]', { hasText: "yours" }).waitFor();
  const history = o.getByTestId("previous-conversations");
  await o.locator('[data-testid="previous-conversations"][data-count="1"]').waitFor();
  const earlier = history.locator(`[data-testid="previous-request"][data-state="closed"][data-conversation-id="${conversationId}"]`);
  await earlier.waitFor();
  const line = await earlier.innerText();
  assert.match(line, /Delivery/);
  assert.match(line, new RegExp(`with ${agents[other].name}`));
  assert.match(line, /closed: Parcel found/);
  await earlier.getByTestId("previous-here").waitFor();
  assert.doesNotMatch(await history.innerText(), /Refund/, "the open request is the chat itself, not its history");
  assert.match(await o.getByTestId("previous-count").innerText(), /1 earlier request/);
  await screenshot(o, "support-desk-history");

  // Closing the second chat adds it to the history, live, newest first.
  await o.getByTestId("desk-close-reason").fill("Refund sent");
  await o.getByTestId("desk-close").click();
  await o.locator('[data-testid="previous-conversations"][data-count="2"]').waitFor();
  const requests = history.getByTestId("previous-request");
  assert.match(await requests.nth(0).innerText(), /Refund.*closed: Refund sent/s);
  assert.match(await requests.nth(1).innerText(), /Delivery/);

  for (const page of [jane, ...Object.values(desks)]) assert.deepEqual(page.errors, []);
});

test("an agent switches status and edits skills and capacity, live", async () => {
  const page = await openAs(browser, server, "alex", "/admin/support");
  const profile = page.getByTestId("agent-profile");
  await page.locator('[data-testid="agent-profile"][data-effective="online"]').waitFor();

  // Away, then back online: what routing sees follows.
  await page.getByTestId("status-away").click();
  await page.locator('[data-testid="agent-profile"][data-status="away"][data-effective="away"]').waitFor();
  await page.getByTestId("status-online").click();
  await page.locator('[data-testid="agent-profile"][data-status="online"][data-effective="online"]').waitFor();

  // Skills (normalised by the server) and capacity, kept across a reload.
  await page.getByTestId("agent-skills").fill("Shipping, billing");
  await page.getByTestId("agent-capacity").fill("3");
  await page.getByTestId("save-profile").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="agent-skills"]')?.value === "billing, shipping");
  await page.reload();
  await page.waitForFunction(() => document.querySelector('[data-testid="agent-skills"]')?.value === "billing, shipping");
  assert.equal(await page.getByTestId("agent-capacity").inputValue(), "3");

  // A wrong skill is the server's clear 400, shown.
  await page.getByTestId("agent-skills").fill("billing, not a skill!");
  await page.getByTestId("save-profile").click();
  await page.getByTestId("profile-error").waitFor();
  assert.match(await page.getByTestId("profile-error").innerText(), /skill/i);
  assert.ok(await profile.isVisible());
  assert.deepEqual(page.errors, []);
});
