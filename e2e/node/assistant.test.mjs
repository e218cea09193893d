// The AI assistant through the official client (issue 20): an answer
// grows in getMessages with no second channel, and a client that
// subscribes mid-stream gets the text so far. The Go harness runs this
// file against a server of its own (TestAssistantStreamsToTheOfficialClient),
// whose built-in assistant streams a word every 60 ms.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ConvexClient } from "convex/browser";
import { api, SERVER_URL, TOKENS, waitFor } from "./helpers.mjs";

const ANSWER = "Parcels leave the store within a day and reach most addresses in three to five business days after that.";

function client(token) {
  const c = new ConvexClient(SERVER_URL);
  c.setAuth(async () => token);
  return c;
}

test("the assistant's answer grows in getMessages, and a late subscriber gets the text so far", async () => {
  const admin = client(TOKENS.admin);
  const john = client(TOKENS.customer);
  const late = client(TOKENS.customer);
  try {
    await admin.mutation(api.shared.assistant.upsertAssistant, {
      name: "Shop Bot",
      provider: "builtin",
      knowledge: [{ question: "How long does shipping take?", answer: ANSWER }],
    });
    const { conversationId } = await john.mutation(api.shared.chat.createOrGetConversation, {});
    const state = await john.mutation(api.shared.assistant.startChat, { conversationId });
    assert.equal(state.state, "active");
    assert.equal(state.assistantName, "Shop Bot");

    // Every result the official client hands out, newest message first.
    const seen = [];
    const stop = john.onUpdate(api.shared.chat.getMessages, { conversationId }, (page) => {
      const m = page.messages[0];
      if (m && m.senderType === "assistant") seen.push({ id: m._id, content: m.content, streaming: m.streaming === true, parts: m.parts });
    });
    await john.mutation(api.shared.chat.sendMessage, { conversationId, content: "How long does shipping take?", messageType: "text" });

    // Mid-stream, a second client subscribes: its first result has the
    // text so far, still streaming.
    await waitFor(() => seen.some((s) => s.streaming && s.content.split(" ").length >= 3), 15_000, "a partial answer");
    const first = await new Promise((resolve) => {
      const unsub = late.onUpdate(api.shared.chat.getMessages, { conversationId }, (page) => {
        unsub();
        resolve(page.messages[0]);
      });
    });
    assert.equal(first.senderType, "assistant");
    assert.equal(first.streaming, true, "the late subscriber sees it streaming");
    assert.ok(first.content.length > 0 && ANSWER.startsWith(first.content), `a prefix of the answer: ${JSON.stringify(first.content)}`);

    const final = await waitFor(() => seen.find((s) => !s.streaming), 15_000, "the finished answer");
    assert.equal(final.content, ANSWER);
    assert.deepEqual(final.parts.map((p) => [p.type, p.tool]), [["tool-use", "search_faq"], ["tool-result", "search_faq"]]);
    const partials = [...new Set(seen.filter((s) => s.streaming && s.content).map((s) => s.content))];
    assert.ok(partials.length >= 3, `the answer grew in steps: ${partials.length}`);
    for (const p of partials) assert.ok(ANSWER.startsWith(p), `each step is a prefix: ${JSON.stringify(p)}`);
    for (let i = 1; i < partials.length; i++) assert.ok(partials[i].length > partials[i - 1].length, "and only grows");
    stop();
  } finally {
    await Promise.all([admin.close(), john.close(), late.close()]);
  }
});
