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
  // jsdom fires one upload progress event, when the answer comes (loaded =
  // total): no intermediate ones, whatever the size. A browser's mid-upload
  // event is dispatched here on the real XMLHttpRequest, before it sends.
  const realSend = XMLHttpRequest.prototype.send;
  const xhrSend = vi.spyOn(XMLHttpRequest.prototype, "send").mockImplementation(function (
    this: XMLHttpRequest,
    body?: Document | XMLHttpRequestBodyInit | null,
  ) {
    this.upload.dispatchEvent(new ProgressEvent("progress", { lengthComputable: true, loaded: 30, total: 60 }));
    return realSend.call(this, body);
  });
  const caption = unique("react image");
  const messageId = await me.sendImage(conversationId, new File([TINY_PNG], "dot.png", { type: "image/png" }), {
    caption,
    onProgress: (p) => fractions.push(p.fraction),
  });
  expect(xhrSend).toHaveBeenCalledTimes(1);
  xhrSend.mockRestore();
  expect(fractions[0]).toBe(0);
  expect(fractions).toContain(0.5);
  expect(fractions.at(-1)).toBe(1);
  expect(fractions.filter((f) => f === 1)).toHaveLength(1); // jsdom's loaded = total event stays below 1
  const page = await me.query(api.shared.chat.getMessages, { conversationId, limit: 10 });
  const msg = page.messages.find((m) => m._id === messageId);
  expect(msg).toMatchObject({ messageType: "image", content: caption });
  expect(msg?.imageAttachment?.fileName).toBe("dot.png");
});

function Unread({ conversationId, onChat }: { conversationId: string | null; onChat?: (c: ReturnType<typeof useChat>) => void }) {
  const chat = useChat(conversationId);
  onChat?.(chat);
  return (
    <div>
      <span data-testid="unread">{String(chat.unreadCount)}</span>
      <span data-testid="total">{String(chat.totalUnreadCount)}</span>
      <span data-testid="loading">{String(chat.isLoading)}</span>
      <button onClick={chat.markAsRead}>read all</button>
    </div>
  );
}

test("useChat(null) subscribes to nothing: a signed-out client renders without an error", async () => {
  const anon = clientFor(null);
  const errors: unknown[] = [];
  const spy = vi.spyOn(console, "error").mockImplementation((...a) => void errors.push(a));
  try {
    render(
      <ParleyProvider client={anon}>
        <Unread conversationId={null} />
      </ParleyProvider>,
    );
    await anon.query(api.shared.chat.getChatSettings);
    await act(() => new Promise((r) => setTimeout(r, 300)));
    expect(screen.getByTestId("unread").textContent).toBe("undefined");
    expect(screen.getByTestId("total").textContent).toBe("undefined");
    expect(screen.getByTestId("loading").textContent).toBe("false");
    expect((anon.convex as unknown as { listeners: Set<unknown> }).listeners.size).toBe(0);
    expect(errors).toEqual([]);
  } finally {
    spy.mockRestore();
  }
});

test("useChat unreadCount is this conversation's, for the caller's side; markAsRead takes the API document's forms", async () => {
  const who: TokenOptions = { sub: unique("cust-unread").replace(/\s/g, "-"), role: "customer", name: "Uma Unread" };
  const me = clientFor(who);
  const admin = clientFor(IDENTITIES.admin);
  const conversationId = await supportConversation(me);
  let chat!: ReturnType<typeof useChat>;
  render(
    <ParleyProvider client={me}>
      <Unread conversationId={conversationId} onChat={(c) => (chat = c)} />
    </ParleyProvider>,
  );
  await waitFor(() => expect(screen.getByTestId("unread").textContent).toBe("0"), { timeout: 10_000 });
  for (const text of ["one", "two"]) {
    await admin.mutation(api.shared.chat.sendMessage, { conversationId, content: unique(text), messageType: "text" });
  }
  await waitFor(() => expect(screen.getByTestId("unread").textContent).toBe("2"), { timeout: 10_000 });
  expect(Number(screen.getByTestId("total").textContent)).toBeGreaterThanOrEqual(2);
  // My own message is not unread for me.
  const mine = unique("mine");
  await chat.sendMessage({ conversationId, content: mine, messageType: "text" });
  // Once the conversation shows my message, its counts include it.
  await waitFor(() => expect(chat.conversation?.lastMessagePreview).toBe(mine), { timeout: 10_000 });
  expect(screen.getByTestId("unread").textContent).toBe("2");

  // The API document's form: markAsRead({ conversationId }).
  const read = await chat.markAsRead({ conversationId });
  expect(read.markedCount).toBe(2);
  await waitFor(() => expect(screen.getByTestId("unread").textContent).toBe("0"), { timeout: 10_000 });

  // onClick={markAsRead}: the click event marks everything.
  await admin.mutation(api.shared.chat.sendMessage, { conversationId, content: unique("three"), messageType: "text" });
  await waitFor(() => expect(screen.getByTestId("unread").textContent).toBe("1"), { timeout: 10_000 });
  fireEvent.click(screen.getByText("read all"));
  await waitFor(() => expect(screen.getByTestId("unread").textContent).toBe("0"), { timeout: 10_000 });

  // The admin's side: the customer's messages.
  const adminView = clientFor(IDENTITIES.admin);
  let adminChat!: ReturnType<typeof useChat>;
  cleanup();
  render(
    <ParleyProvider client={adminView}>
      <Unread conversationId={conversationId} onChat={(c) => (adminChat = c)} />
    </ParleyProvider>,
  );
  await waitFor(() => expect(screen.getByTestId("unread").textContent).toBe("1"), { timeout: 10_000 });
  await adminChat.markAsRead();
  await waitFor(() => expect(screen.getByTestId("unread").textContent).toBe("0"), { timeout: 10_000 });
});

test("useChat updateTyping takes a boolean or the API document's object; wrong arguments reject with a TypeError", async () => {
  const who: TokenOptions = { sub: unique("cust-typing").replace(/\s/g, "-"), role: "customer", name: "Tia Typing" };
  const me = clientFor(who);
  const admin = clientFor(IDENTITIES.admin);
  const conversationId = await supportConversation(me);
  const indicators: string[][] = [];
  admin.onUpdate(api.shared.chat.getTypingIndicators, { conversationId }, (list) => indicators.push(list.map((t) => t.userId)));
  let chat!: ReturnType<typeof useChat>;
  render(
    <ParleyProvider client={me}>
      <Unread conversationId={conversationId} onChat={(c) => (chat = c)} />
    </ParleyProvider>,
  );
  await waitFor(() => expect(screen.getByTestId("loading").textContent).toBe("false"), { timeout: 10_000 });
  await chat.updateTyping({ conversationId, isTyping: true });
  await vi.waitFor(() => expect(indicators.at(-1)).toContain(who.sub), { timeout: 10_000 });
  await chat.updateTyping(false);
  await vi.waitFor(() => expect(indicators.at(-1)).not.toContain(who.sub), { timeout: 10_000 });

  const bad = chat as unknown as { updateTyping(x: unknown): Promise<unknown>; markAsRead(x: unknown): Promise<unknown> };
  await expect(bad.updateTyping({ conversationId })).rejects.toThrow(TypeError);
  await expect(bad.updateTyping("yes")).rejects.toThrow(/updateTyping/);
  await expect(bad.markAsRead([1, 2])).rejects.toThrow(/messageIds must be an array of message id strings/);
  await expect(bad.markAsRead({ conversationId, messageIds: "m1" })).rejects.toThrow(TypeError);
  await expect(bad.markAsRead(42)).rejects.toThrow(TypeError);
});

test("an XMLHttpRequest upload the server refuses never reports 100%", async () => {
  const me = clientFor(customer);
  const fractions: number[] = [];
  const broken = new Uint8Array(4096);
  broken.set(TINY_PNG.subarray(0, 8));
  const err = await me
    .uploadImage(new Blob([broken], { type: "image/png" }), { onProgress: (p) => fractions.push(p.fraction) })
    .catch((e) => e);
  expect(err.reason).toBe("server");
  expect(fractions.length).toBeGreaterThan(0);
  expect(fractions).not.toContain(1);
});

test("useChat with messages: false subscribes to no messages, and still loads, sends and tracks unread", async () => {
  const who: TokenOptions = { sub: unique("cust-nomsg").replace(/\s/g, "-"), role: "customer", name: "Nora NoMessages" };
  const me = clientFor(who);
  const conversationId = await supportConversation(me);
  let chat!: ReturnType<typeof useChat>;
  function NoMessages() {
    chat = useChat(conversationId, { messages: false });
    return <span data-testid="nomsg-loading">{String(chat.isLoading)}</span>;
  }
  render(
    <ParleyProvider client={me}>
      <NoMessages />
    </ParleyProvider>,
  );
  await waitFor(() => expect(screen.getByTestId("nomsg-loading").textContent).toBe("false"), { timeout: 10_000 });
  expect(chat.conversation?._id).toBe(conversationId);
  expect(chat.unreadCount).toBe(0);
  const content = unique("sent without a message list");
  const id = await chat.sendMessage(content);
  const page = await me.query(api.shared.chat.getMessages, { conversationId, limit: 5 });
  expect(page.messages.find((m) => m._id === id)?.content).toBe(content);
  expect(chat.messages).toBeUndefined();
  expect(chat.page).toBeUndefined();
});

test("useChat acknowledges what it receives: the sender sees it delivered, once per message", async () => {
  const me = clientFor({ sub: "cust-react-ack", role: "customer", name: "Ada Ack" }); // a fresh conversation
  const admin = clientFor(IDENTITIES.admin);
  const conversationId = await supportConversation(me);
  const mutate = vi.spyOn(me.convex.client, "mutation");
  const acks = () => mutate.mock.calls.filter(([name]) => name === "shared/chat:markDelivered").map(([, args]) => args);
  render(
    <ParleyProvider client={me}>
      <Chat conversationId={conversationId} outgoing="unused" />
    </ParleyProvider>,
  );
  await waitFor(() => expect(screen.getByTestId("loading").textContent).toBe("false"), { timeout: 10_000 });

  const incoming = unique("delivered to react");
  const messageId = await admin.mutation(api.shared.chat.sendMessage, { conversationId, content: incoming, messageType: "text" });
  expect(await screen.findByText(incoming, undefined, { timeout: 10_000 })).toBeTruthy();
  await vi.waitFor(
    async () => {
      const page = await admin.query(api.shared.chat.getMessages, { conversationId, limit: 10 });
      expect(page.messages.find((m) => m._id === messageId)?.status).toBe("delivered");
    },
    { timeout: 10_000 },
  );
  expect(acks()).toEqual([{ conversationId, upToMessageId: messageId }]);

  // The customer's own message is not acknowledged by the customer.
  fireEvent.click(screen.getByText("send"));
  await new Promise((r) => setTimeout(r, 500));
  expect(acks()).toHaveLength(1);
  mutate.mockRestore();
});
