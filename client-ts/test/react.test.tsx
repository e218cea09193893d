// @vitest-environment jsdom
// The React adapter in jsdom with React Testing Library, against the real
// server: useChat sees a second client's message, sends its own, and
// debounces typing; useConnectionState; sendImage through XMLHttpRequest.

import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { StrictMode } from "react";
import { afterEach, expect, test, vi } from "vitest";
import { api, type ParleyClient } from "../src/index.js";
import { ParleyProvider, useChat, useConnectionState, useQuery } from "../src/react/index.js";
import { clientFor, IDENTITIES, TINY_PNG, unique, type TokenOptions } from "./helpers.js";

afterEach(() => cleanup());

const customer: TokenOptions = { sub: "cust-react-1", role: "customer", name: "Rita React" };

function Chat({ conversationId, outgoing }: { conversationId: string; outgoing: string }) {
  const chat = useChat(conversationId, { typingIdleMs: 1000 });
  const state = useConnectionState();
  const settings = useQuery(api.shared.chat.getChatSettings, {});
  return (
    <div>
      <span data-testid="state">{state}</span>
      <span data-testid="max">{settings?.maxImageSizeMB}</span>
      <span data-testid="loading">{String(chat.isLoading)}</span>
      <ul>
        {chat.messages?.map((m) => (
          <li key={m._id}>{m.content}</li>
        ))}
      </ul>
      <span data-testid="typing">{chat.typingIndicators?.map((t) => t.userName).join(",")}</span>
      <input data-testid="input" onChange={() => chat.onInput()} />
      <button onClick={() => void chat.sendMessage(outgoing)}>send</button>
    </div>
  );
}

async function supportConversation(client: ParleyClient): Promise<string> {
  const { conversationId } = await client.mutation(api.shared.chat.createOrGetConversation, {});
  return conversationId;
}

test("useChat shows a message sent by a second client, and sends one the second client sees", async () => {
  const me = clientFor(customer);
  const admin = clientFor(IDENTITIES.admin);
  const conversationId = await supportConversation(me);
  const outgoing = unique("from react");
  render(
    <ParleyProvider client={me}>
      <Chat conversationId={conversationId} outgoing={outgoing} />
    </ParleyProvider>,
  );
  await waitFor(() => expect(screen.getByTestId("state").textContent).toBe("connected"), { timeout: 10_000 });
  await waitFor(() => expect(screen.getByTestId("loading").textContent).toBe("false"), { timeout: 10_000 });
  await waitFor(() => expect(screen.getByTestId("max").textContent).toMatch(/^\d+$/), { timeout: 10_000 });

  const incoming = unique("from admin");
  await admin.mutation(api.shared.chat.sendMessage, { conversationId, content: incoming, messageType: "text" });
  expect(await screen.findByText(incoming, undefined, { timeout: 10_000 })).toBeTruthy();

  fireEvent.click(screen.getByText("send"));
  await vi.waitFor(
    async () => {
      const page = await admin.query(api.shared.chat.getMessages, { conversationId, limit: 10 });
      expect(page.messages.map((m) => m.content)).toContain(outgoing);
    },
    { timeout: 10_000 },
  );
  expect(await screen.findByText(outgoing, undefined, { timeout: 10_000 })).toBeTruthy();
});

test("typing is debounced: continuous input sends at most one update per two seconds, a pause sends a stop", async () => {
  const me = clientFor(customer);
  const admin = clientFor(IDENTITIES.admin);
  const conversationId = await supportConversation(me);
  const indicators: string[][] = [];
  admin.onUpdate(api.shared.chat.getTypingIndicators, { conversationId }, (list) =>
    indicators.push(list.map((t) => t.userId)),
  );
  const base = me.convex.client;
  const mutate = vi.spyOn(base, "mutation");
  const typingCalls = () =>
    mutate.mock.calls.filter(([name]) => name === "shared/chat:updateTypingStatus").map(([, args]) => args?.isTyping);

  // StrictMode mounts effects twice: the typing notifier must survive it.
  render(
    <StrictMode>
      <ParleyProvider client={me}>
        <Chat conversationId={conversationId} outgoing="unused" />
      </ParleyProvider>
    </StrictMode>,
  );
  await waitFor(() => expect(screen.getByTestId("loading").textContent).toBe("false"), { timeout: 10_000 });
  const input = screen.getByTestId("input");
  // A user typing a keystroke every 100ms for 3 seconds.
  const started = Date.now();
  let i = 0;
  while (Date.now() - started < 3000) {
    fireEvent.change(input, { target: { value: `x${i++}` } });
    await act(() => new Promise((r) => setTimeout(r, 100)));
  }
  const sentWhileTyping = typingCalls();
  expect(sentWhileTyping.every((t) => t === true)).toBe(true);
  expect(sentWhileTyping.length).toBeGreaterThanOrEqual(1);
  expect(sentWhileTyping.length).toBeLessThanOrEqual(2); // at 0s and 2s
  await vi.waitFor(() => expect(indicators.at(-1)).toContain(customer.sub), { timeout: 10_000 });

  // The pause: one stop, and the indicator goes away.
  await vi.waitFor(() => expect(typingCalls().at(-1)).toBe(false), { timeout: 10_000 });
  expect(typingCalls().filter((t) => t === false)).toHaveLength(1);
  await vi.waitFor(() => expect(indicators.at(-1)).not.toContain(customer.sub), { timeout: 10_000 });
  mutate.mockRestore();
});

test("sendImage uploads through XMLHttpRequest with progress", async () => {
  const me = clientFor(customer);
  const conversationId = await supportConversation(me);
  const fractions: number[] = [];
  const xhrSend = vi.spyOn(XMLHttpRequest.prototype, "send");
  const caption = unique("react image");
  const messageId = await me.sendImage(conversationId, new File([TINY_PNG], "dot.png", { type: "image/png" }), {
    caption,
    onProgress: (p) => fractions.push(p.fraction),
  });
  expect(xhrSend).toHaveBeenCalledTimes(1);
  xhrSend.mockRestore();
  expect(fractions[0]).toBe(0);
  expect(fractions.at(-1)).toBe(1);
  const page = await me.query(api.shared.chat.getMessages, { conversationId, limit: 10 });
  const msg = page.messages.find((m) => m._id === messageId);
  expect(msg).toMatchObject({ messageType: "image", content: caption });
  expect(msg?.imageAttachment?.fileName).toBe("dot.png");
});
