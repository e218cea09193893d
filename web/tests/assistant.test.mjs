// The AI assistant (issue 20) in headless Chromium against a real `parley
// dev` with its built-in demo assistant, its words streamed slowly
// (--ai-builtin-word-delay) so that a test sees an answer grow: a
// customer opens support and is greeted, asks about shipping and watches
// the FAQ answer stream in after its tool step; asks where an order is and
// sees the order's status; a visitor asks for a human from the widget and
// sees their place in the queue; an agent watches an AI chat live from the
// desk, takes it over mid-answer (the customer sees the partial answer
// marked as stopped and the agent join), answers, and hands it back to
// the assistant, which answers again; a visitor reloads mid-answer and
// sees the text so far, then the whole answer.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, DevServer, launchBrowser, message, openAs, screenshot, send, timeout, waitConnected } from "./harness.mjs";

const greeting = "Hi! I'm the Parley Assistant.";
const faq = {
  shipping: "Most orders arrive within 3 to 5 business days; you can follow yours from your orders page.",
  returns:
    "Returns are free within 30 days: open the order and choose Return. Refunds reach your card 5 to 10 days after the store receives the item.",
  cancel: "You can change or cancel an order until the store marks it shipped: open the order and choose Cancel or Edit.",
  payment: "We accept credit and debit cards, Apple Pay, Google Pay and PayPal.",
};
/** How long an answer may take to stream, word by word (300 ms apart), on a busy machine. */
const answerTimeout = 60_000;

let server;
let browser;

before(async () => {
  server = await DevServer.start(["--ai-builtin-word-delay", "300ms"], { ai: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** The assistant's messages. */
function assistantMessages(page) {
  return page.locator('[data-testid="message"][data-sender-type="assistant"]');
}

/**
 * Waits until an assistant message streams a strict, non-empty prefix of
 * full, its streaming indicator showing; returns that text.
 */
async function partialOf(page, full, ms = answerTimeout) {
  const handle = await page.waitForFunction(
    (final) => {
      for (const el of document.querySelectorAll('[data-testid="message"][data-sender-type="assistant"][data-streaming="true"]')) {
        if (!el.querySelector('[data-testid="streaming-indicator"]')) continue;
        const text = el.querySelector('[data-testid="assistant-text"]')?.firstChild?.textContent ?? "";
        if (text.trim() && text !== final && final.startsWith(text)) return text;
      }
      return null;
    },
    full,
    { timeout: ms, polling: 20 },
  );
  return handle.jsonValue();
}

/** Waits for the assistant's finished answer holding text; returns its locator. */
async function answer(page, text, ms = answerTimeout) {
  const m = page.locator('[data-testid="message"][data-sender-type="assistant"][data-streaming="false"]').filter({ hasText: text });
  await m.waitFor({ timeout: ms });
  assert.equal(await m.getByTestId("streaming-indicator").count(), 0, "no streaming indicator once done");
  return m;
}

/** A page of a fresh browser context (a new visitor) on the widget, chat started. */
async function visitor(name) {
  const context = await browser.newContext({ viewport: { width: 420, height: 700 } });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e));
  await page.goto(`${server.url}/widget?name=${encodeURIComponent(name)}`);
  await page.getByTestId("start-chat").click();
  await waitConnected(page);
  return page;
}

test("a streamed answer: the greeting, the FAQ tool step and the answer growing word by word", async () => {
  const john = await openAs(browser, server, "john");
  await john.getByTestId("contact-support").click();
  await john.getByTestId("thread").waitFor();

  // Opening support starts the assistant: its greeting, with its name and badge.
  const hello = message(john, greeting);
  await hello.waitFor();
  assert.equal(await hello.getAttribute("data-sender-type"), "assistant");
  assert.match(await hello.getByTestId("sender").innerText(), /Parley Assistant/);
  await hello.getByTestId("ai-badge").waitFor();
  await john.locator('[data-testid="assistant-bar"][data-state="active"]').waitFor();
  await john.getByTestId("talk-to-human").waitFor();

  await send(john, "How long does shipping take?");
  // The customer's own message (the tool step quoting the FAQ's question
  // may be on screen first, and says the same words).
  await john.locator('[data-testid="message"].mine').filter({ hasText: "How long does shipping take?" }).waitFor();

  // The tool step shows, then the answer grows: a strict prefix while the indicator shows.
  const partial = await partialOf(john, faq.shipping);
  assert.ok(partial.length < faq.shipping.length, partial);
  const step = john.locator('[data-testid="tool-step"][data-tool="search_faq"]');
  await step.filter({ hasText: "🔎 Found: How long does shipping take?" }).waitFor();
  await screenshot(john, "assistant-streaming");

  // Then the whole answer, the indicator gone, the step kept.
  const done = await answer(john, faq.shipping);
  assert.equal(await done.getByTestId("assistant-text").innerText(), faq.shipping);
  assert.match(await done.getByTestId("tool-step").innerText(), /Found: How long does shipping take\?/);
  await done.getByTestId("ai-badge").waitFor();
  assert.equal(await assistantMessages(john).filter({ hasText: greeting }).count(), 1, "one greeting");
  await screenshot(john, "assistant-answered");
  assert.deepEqual(john.errors, []);
});

test("a tool call: where an order is, from the order's status", async () => {
  const { conversationId } = await call(server, "john", "mutation", "shared/chat:createOrGetConversation", { orderId: "order123456789" });
  const john = await openAs(browser, server, "john", `/c/${conversationId}`);
  await john.getByTestId("thread").waitFor();
  await message(john, greeting).waitFor();

  await send(john, "Where is my order?");
  const step = john.locator('[data-testid="tool-step"][data-tool="get_order_status"]');
  await step.filter({ hasText: "📦" }).filter({ hasText: "delivered" }).waitFor({ timeout: answerTimeout });
  assert.match(await step.innerText(), /Order order123456789: delivered/);
  const done = await answer(john, "Your order order123456789");
  assert.match(await done.getByTestId("assistant-text").innerText(), /is delivered/);
  await screenshot(john, "assistant-order");
  assert.deepEqual(john.errors, []);
});

test("hand-off: Talk to a human in the widget queues the visitor, with a notice and the position", async () => {
  const page = await visitor("Hand-off visitor");
  await message(page, greeting).waitFor();
  await page.locator('[data-testid="assistant-bar"][data-state="active"]').waitFor();
  await page.getByTestId("talk-to-human").click();

  await page.getByTestId("notice").filter({ hasText: "Transferred to an agent: The customer asked for a person" }).waitFor();
  await page.locator('[data-testid="queue-widget"][data-state="queued"]').waitFor();
  assert.match(await page.getByTestId("queue-position").innerText(), /^\d+$/);
  await page.getByTestId("queue-eta").waitFor();
  assert.equal(await page.getByTestId("talk-to-human").count(), 0, "the assistant no longer answers");
  await screenshot(page, "assistant-handoff");
  assert.deepEqual(page.errors, []);
});

test("takeover mid-stream: the agent watches live, takes over, answers and resumes the AI", async () => {
  const desk = await openAs(browser, server, "admin", "/admin/support");
  await desk.getByTestId("ai-chats").waitFor();

  const jane = await openAs(browser, server, "jane");
  await jane.getByTestId("contact-support").click();
  await jane.getByTestId("thread").waitFor();
  await message(jane, greeting).waitFor();
  const conversationId = await jane.getByTestId("thread").getAttribute("data-conversation-id");

  // The desk lists her chat live; the agent opens it and watches.
  const row = desk.locator(`[data-testid="ai-chat"][data-conversation-id="${conversationId}"]`);
  await row.waitFor();
  await row.click();
  await desk.locator(`[data-testid="desk-chat"][data-conversation-id="${conversationId}"]`).waitFor();
  await desk.locator('[data-testid="assistant-controls"][data-state="active"]').waitFor();
  await message(desk, greeting).waitFor();

  await send(jane, "How do I return an item or get a refund?");
  // The agent sees the answer stream in the console, and takes over while it does.
  await partialOf(desk, faq.returns);
  await desk.locator('[data-testid="ai-chat"][data-streaming="true"]').first().waitFor();
  await screenshot(desk, "assistant-desk-watching");
  await desk.getByTestId("take-over").click();

  // Jane: the partial answer, marked as stopped, and the agent joining.
  const stopped = jane.locator('[data-testid="message"][data-sender-type="assistant"][data-interrupted="takeover"]');
  await stopped.waitFor();
  assert.equal(await stopped.getAttribute("data-streaming"), "false");
  assert.match(await stopped.getByTestId("interrupted-note").innerText(), /stopped — an agent took over/);
  const kept = await stopped.getByTestId("assistant-text").innerText();
  assert.ok(kept.length > 0 && kept.length < faq.returns.length && faq.returns.startsWith(kept), `a partial answer: ${JSON.stringify(kept)}`);
  await jane.getByTestId("notice").filter({ hasText: "Parley Support joined the conversation" }).waitFor();
  await jane.getByTestId("queue-assigned").filter({ hasText: "Parley Support" }).waitFor();
  assert.equal(await jane.getByTestId("talk-to-human").count(), 0);

  // The agent holds it now: it left the AI chats, it is among theirs; they answer.
  await row.waitFor({ state: "detached" });
  await desk.locator(`[data-testid="active-chat"][data-conversation-id="${conversationId}"]`).waitFor();
  await desk.locator('[data-testid="assistant-controls"][data-state="taken_over"]').waitFor();
  await desk.locator('[data-testid="message"][data-interrupted="takeover"]').getByTestId("interrupted-note").waitFor();
  const reply = "Hi Jane, I can help with the return myself.";
  await send(desk, reply);
  await message(jane, reply).waitFor();
  await screenshot(jane, "assistant-taken-over");

  // Resume AI: the assistant is back and answers the next question.
  await desk.getByTestId("resume-ai").click();
  await jane.getByTestId("notice").filter({ hasText: "Parley Assistant is back to help" }).waitFor();
  await desk.locator('[data-testid="assistant-controls"][data-state="active"]').waitFor();
  await jane.getByTestId("talk-to-human").waitFor();
  await send(jane, "What payment methods do you accept?");
  await answer(jane, faq.payment);
  await answer(desk, faq.payment);

  // The AI log has its replies.
  await desk.getByTestId("ai-log-toggle").click();
  await desk.locator('[data-testid="ai-run"][data-state="cancelled"]').waitFor();
  await desk.locator('[data-testid="ai-run"][data-state="done"]').first().waitFor();
  await screenshot(desk, "assistant-desk-resumed");
  assert.deepEqual(jane.errors, []);
  assert.deepEqual(desk.errors, []);
});

test("reconnect mid-stream: a reload shows the text so far, then the whole answer", async () => {
  const page = await visitor("Reloading visitor");
  await message(page, greeting).waitFor();
  await send(page, "Can I change or cancel my order?");
  const before = await partialOf(page, faq.cancel);
  await page.reload();
  await waitConnected(page);

  // After the reload: the answer still streaming, with at least the text seen before.
  const after = await partialOf(page, faq.cancel);
  assert.ok(after.startsWith(before), `${JSON.stringify(before)} then ${JSON.stringify(after)}`);
  await answer(page, faq.cancel);
  assert.equal(await assistantMessages(page).filter({ hasText: faq.cancel }).count(), 1, "one answer");
  await screenshot(page, "assistant-reloaded");
  assert.deepEqual(page.errors, []);
});
