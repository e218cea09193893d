// The AI assistant through the client, against a server of this file's
// own with `parley dev`'s demo assistant on (the shared server has it
// off): startChat's greeting, an answer streaming into getMessages (the
// text growing, then done), its tool steps paired by toolSteps, and "talk
// to a human" handing the chat off.

import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { api, createParleyClient, isAssistantMessage, toolSteps, type MessageDoc, type ParleyClient } from "../src/index.js";
import { DEMO, IDENTITIES, mintToken } from "./helpers.js";
import { startParley, type RunningServer } from "./server.js";

let server: RunningServer;
let customer: ParleyClient;

beforeAll(async () => {
  server = await startParley(inject("parleyBin"), ["--ai-demo=true", "--ai-builtin-word-delay", "40ms"]);
  customer = createParleyClient({ url: server.url, auth: () => mintToken(IDENTITIES.customer, server.data), convex: { logger: false } });
}, 120_000);

afterAll(async () => {
  await customer?.close();
  await server?.stop();
});

describe("toolSteps", () => {
  test("pairs each call with its result, in call order", () => {
    const steps = toolSteps({
      parts: [
        { type: "tool-use", callId: "a", tool: "search_faq", input: '{"query":"shipping"}' },
        { type: "tool-result", callId: "a", tool: "search_faq", output: "Found: How long does shipping take?" },
        { type: "tool-use", callId: "b", tool: "get_order_status", input: '{"orderId":"o1"}' },
      ],
    });
    expect(steps).toEqual([
      { callId: "a", tool: "search_faq", input: '{"query":"shipping"}', state: "done", output: "Found: How long does shipping take?" },
      { callId: "b", tool: "get_order_status", input: '{"orderId":"o1"}', state: "running" },
    ]);
    expect(toolSteps({ parts: [{ type: "tool-result", callId: "c", tool: "x", error: true, output: "no" }] })).toEqual([
      { callId: "c", tool: "x", state: "error", output: "no" },
    ]);
    expect(toolSteps({})).toEqual([]);
  });
});

describe("an assistant answers in a support conversation", () => {
  test("greeting, a streamed answer with its tool step, then a hand-off", async () => {
    const { conversationId } = await customer.mutation(api.shared.chat.createOrGetConversation, { orderId: DEMO.orderId });
    const started = await customer.mutation(api.shared.assistant.startChat, { conversationId });
    expect(started.state).toBe("active");
    expect(started.assistantName).toBe("Parley Assistant");

    // Every result of getMessages, to see the answer grow.
    const seen: MessageDoc[][] = [];
    let wake: () => void = () => {};
    const unsubscribe = customer.onUpdate(api.shared.chat.getMessages, { conversationId, limit: 20 }, (page) => {
      seen.push(page.messages);
      wake();
    });
    const until = async (pred: (msgs: MessageDoc[]) => boolean, ms = 20_000) => {
      const deadline = Date.now() + ms;
      while (!seen.some(pred)) {
        if (Date.now() > deadline) throw new Error(`not seen within ${ms}ms: ${JSON.stringify(seen.at(-1))}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 200);
        });
      }
    };
    try {
      await until((msgs) => msgs.some((m) => isAssistantMessage(m) && m.content.startsWith("Hi! I'm the Parley Assistant")));

      await customer.mutation(api.shared.chat.sendMessage, { conversationId, content: "Where is my order?", messageType: "text" });
      const answerOf = (msgs: MessageDoc[]) => msgs.find((m) => isAssistantMessage(m) && toolSteps(m).some((s) => s.tool === "get_order_status"));
      // streaming is there (true) only while the answer grows.
      await until((msgs) => {
        const m = answerOf(msgs);
        return !!m && !m.streaming;
      });

      const final = answerOf(seen.at(-1)!)!;
      expect(final.content).toMatch(/^Your order order123456789 .* is delivered/);
      expect(final.interrupted).toBeUndefined();
      const [step] = toolSteps(final);
      expect(step).toMatchObject({ tool: "get_order_status", state: "done", output: "Order order123456789: delivered" });
      // While it streamed: prefixes of the answer, marked streaming (the
      // last may be all of it, before the answer is written as done), at
      // least one of them a strict one.
      const partials = seen.map(answerOf).filter((m): m is MessageDoc => !!m && m.streaming === true && m.content !== "");
      for (const p of partials) {
        expect(p._id).toBe(final._id);
        expect(final.content.startsWith(p.content), `${JSON.stringify(p.content)} is a prefix`).toBe(true);
      }
      expect(partials.some((p) => p.content.length < final.content.length)).toBe(true);

      // Talk to a human: the chat is handed off, the queue has it.
      const handed = await customer.mutation(api.shared.assistant.requestHuman, { conversationId });
      expect(handed.state).toBe("handed_off");
      expect((await customer.query(api.shared.assistant.getChatAssistant, { conversationId })).state).toBe("handed_off");
      expect((await customer.query(api.shared.support.getMyQueueStatus, { conversationId })).state).toBe("queued");
    } finally {
      unsubscribe();
    }
  }, 60_000);
});
