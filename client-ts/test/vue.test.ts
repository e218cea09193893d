// @vitest-environment jsdom
// The Vue adapter with @vue/test-utils against the real server: useChat
// sees a second client's message; useQuery's reactive arguments never show
// the previous arguments' data as current; usePaginatedQuery; cleanup with
// the component's scope.

import { flushPromises, mount } from "@vue/test-utils";
import { afterEach, expect, test, vi } from "vitest";
import { computed, createApp, defineComponent, h, nextTick, ref, watch } from "vue";
import { api, type MessagePage, type ParleyClient } from "../src/index.js";
import { ParleyPlugin, useChat, useMutation, usePaginatedQuery, useQuery } from "../src/vue/index.js";
import { clientFor, DEMO, IDENTITIES, unique, type TokenOptions } from "./helpers.js";

const customer: TokenOptions = { sub: "cust-vue-1", role: "customer", name: "Vera Vue" };

const unmounts: (() => void)[] = [];
afterEach(() => {
  unmounts.splice(0).forEach((u) => u());
});

function mountWith<T>(client: ParleyClient, setup: () => T, render: (state: T) => ReturnType<typeof h> = () => h("div")) {
  let state!: T;
  const wrapper = mount(
    defineComponent({
      setup() {
        state = setup();
        return () => render(state);
      },
    }),
    { global: { plugins: [[ParleyPlugin, { client }]] } },
  );
  unmounts.push(() => wrapper.unmount());
  return { wrapper, state };
}

/** The number of live subscriptions of client (convex's ConvexClient keeps them in a Set). */
function liveSubscriptions(client: ParleyClient): number {
  return (client.convex as unknown as { listeners: Set<unknown> }).listeners.size;
}

test("useChat shows a message sent by a second client, and sends one", async () => {
  const me = clientFor(customer);
  const admin = clientFor(IDENTITIES.admin);
  const { conversationId } = await me.mutation(api.shared.chat.createOrGetConversation, {});
  const conv = ref<string | undefined>(conversationId);
  const { wrapper, state: chat } = mountWith(
    me,
    () => useChat(conv),
    (c) => h("ul", c.messages.value?.map((m) => h("li", { key: m._id }, m.content))),
  );
  await vi.waitFor(() => expect(chat.isLoading.value).toBe(false), { timeout: 10_000 });

  const incoming = unique("from admin to vue");
  await admin.mutation(api.shared.chat.sendMessage, { conversationId, content: incoming, messageType: "text" });
  await vi.waitFor(() => expect(wrapper.text()).toContain(incoming), { timeout: 10_000 });
  const read = await chat.markAsRead();
  expect(read.markedCount).toBeGreaterThanOrEqual(1);
  await vi.waitFor(
    () => expect(chat.messages.value?.find((m) => m.content === incoming)?.isRead).toBe(true),
    { timeout: 10_000 },
  );

  const outgoing = unique("from vue");
  await chat.sendMessage(outgoing);
  await vi.waitFor(() => expect(wrapper.text()).toContain(outgoing), { timeout: 10_000 });
  expect(chat.unreadCount.value).toBeTypeOf("number");

  // Unmounting ends every subscription of the component.
  expect(liveSubscriptions(me)).toBeGreaterThan(0);
  wrapper.unmount();
  unmounts.length = 0;
  expect(liveSubscriptions(me)).toBe(0);
});

test("useQuery: switching arguments never shows the previous arguments' data, and isPending is true meanwhile", async () => {
  const me = clientFor(IDENTITIES.customer);
  const a = DEMO.conversationId;
  const { conversationId: b } = await me.mutation(api.shared.chat.createOrGetConversation, {});
  await me.mutation(api.shared.chat.sendMessage, { conversationId: b, content: unique("support"), messageType: "text" });

  const conv = ref(a);
  const { state: q } = mountWith(me, () => useQuery(api.shared.chat.getMessages, () => ({ conversationId: conv.value, limit: 5 })));
  // Every state the composable is ever in, recorded synchronously.
  const seen: { args: string; data: MessagePage | undefined; isPending: boolean }[] = [];
  watch(
    [conv, q.data, q.isPending],
    () => seen.push({ args: conv.value, data: q.data.value, isPending: q.isPending.value }),
    { flush: "sync", immediate: true },
  );
  const loaded = (id: string) => {
    expect(q.isPending.value).toBe(false);
    expect(q.data.value?.messages[0]?.conversationId).toBe(id);
  };

  expect(q.isPending.value).toBe(true);
  await vi.waitFor(() => loaded(a), { timeout: 10_000 });

  for (const next of [b, a, b]) {
    conv.value = next;
    // At once, before any render or result: no data, pending.
    expect(q.data.value).toBeUndefined();
    expect(q.isPending.value).toBe(true);
    await vi.waitFor(() => loaded(next), { timeout: 10_000 });
  }
  for (const s of seen) {
    if (s.data !== undefined) {
      expect(s.data.messages.every((m) => m.conversationId === s.args)).toBe(true);
      expect(s.isPending).toBe(false);
    } else {
      expect(s.isPending).toBe(true);
    }
  }

  // "skip": nothing pending, no data.
  const skip = ref(false);
  const { state: s } = mountWith(me, () =>
    useQuery(api.shared.chat.getConversation, () => (skip.value ? "skip" : { conversationId: a })),
  );
  await vi.waitFor(() => expect(s.data.value?._id).toBe(a), { timeout: 10_000 });
  skip.value = true;
  expect(s.data.value).toBeUndefined();
  expect(s.isPending.value).toBe(false);
});

test("useQuery reports a function error in error, not data", async () => {
  const me = clientFor(IDENTITIES.customer);
  const { state: q } = mountWith(me, () => useQuery(api.shared.chat.getConversation, { conversationId: "conv-missing" }));
  await vi.waitFor(() => expect(q.error.value).toBeDefined(), { timeout: 10_000 });
  expect(q.data.value).toBeUndefined();
  expect(q.isPending.value).toBe(false);
});

test("usePaginatedQuery loads pages and more; useMutation tracks isPending", async () => {
  const me = clientFor(IDENTITIES.customer);
  const send = (() => {
    let m!: ReturnType<typeof useMutation<typeof api.shared.chat.sendMessage>>;
    mountWith(me, () => (m = useMutation(api.shared.chat.sendMessage)));
    return m;
  })();
  for (let i = 0; i < 3; i++) {
    const p = send({ conversationId: DEMO.conversationId, content: unique(`page ${i}`), messageType: "text" });
    expect(send.isPending.value).toBe(true);
    await p;
  }
  expect(send.isPending.value).toBe(false);

  const { state: p } = mountWith(me, () =>
    usePaginatedQuery(api.shared.chat.getMessagesPaginated, { conversationId: DEMO.conversationId }, { initialNumItems: 2 }),
  );
  await vi.waitFor(() => expect(p.status.value).toBe("CanLoadMore"), { timeout: 10_000 });
  expect(p.results.value).toHaveLength(2);
  expect(p.loadMore(2)).toBe(true);
  await vi.waitFor(() => expect(p.results.value.length).toBe(4), { timeout: 10_000 });
  await nextTick();
  await flushPromises();
});

test("useChat: this conversation's unreadCount for the caller's side, markAsRead from a click event, updateTyping's object form", async () => {
  const who: TokenOptions = { sub: unique("cust-vue-unread").replace(/\s/g, "-"), role: "customer", name: "Ulla Unread" };
  const me = clientFor(who);
  const admin = clientFor(IDENTITIES.admin);
  const { conversationId } = await me.mutation(api.shared.chat.createOrGetConversation, {});
  const { state: chat } = mountWith(me, () => useChat(() => conversationId));
  await vi.waitFor(() => expect(chat.unreadCount.value).toBe(0), { timeout: 10_000 });
  await admin.mutation(api.shared.chat.sendMessage, { conversationId, content: unique("vue unread"), messageType: "text" });
  await vi.waitFor(() => expect(chat.unreadCount.value).toBe(1), { timeout: 10_000 });
  expect(chat.totalUnreadCount.value).toBeGreaterThanOrEqual(1);
  expect(chat.conversation.value?._id).toBe(conversationId);
  // @click="markAsRead" hands it the DOM event: everything is marked read.
  const read = await chat.markAsRead(new Event("click"));
  expect(read.markedCount).toBe(1);
  await vi.waitFor(() => expect(chat.unreadCount.value).toBe(0), { timeout: 10_000 });
  await chat.updateTyping({ conversationId, isTyping: false });
  await expect(chat.updateTyping({ conversationId } as never)).rejects.toThrow(TypeError);
});

test("useChat(null) with a signed-out client subscribes to nothing", async () => {
  const anon = clientFor(null);
  const { state: chat } = mountWith(anon, () => useChat(null));
  await anon.query(api.shared.chat.getChatSettings);
  expect(liveSubscriptions(anon)).toBe(0);
  expect(chat.isLoading.value).toBe(false);
  expect(chat.unreadCount.value).toBeUndefined();
  expect(chat.totalUnreadCount.value).toBeUndefined();
  await expect(chat.markAsRead()).rejects.toThrow("useChat: no conversation");
});

test("usePaginatedQuery: skipped is not loading; an error ends loading", async () => {
  const me = clientFor(IDENTITIES.customer);
  const args = ref<{ conversationId: string } | "skip">("skip");
  const { state: p } = mountWith(me, () =>
    usePaginatedQuery(api.shared.chat.getMessagesPaginated, args, { initialNumItems: 2 }),
  );
  const seen: { status: string; isLoading: boolean; error: boolean; n: number }[] = [];
  watch(
    [p.status, p.isLoading, p.error, p.results],
    () => seen.push({ status: p.status.value, isLoading: p.isLoading.value, error: !!p.error.value, n: p.results.value.length }),
    { flush: "sync" },
  );
  expect(p.isLoading.value).toBe(false);
  expect(p.results.value).toEqual([]);

  args.value = { conversationId: "conv-missing-paginated" };
  expect(p.isLoading.value).toBe(true);
  expect(p.status.value).toBe("LoadingFirstPage");
  await vi.waitFor(() => expect(p.error.value).toBeDefined(), { timeout: 10_000 });
  expect(p.isLoading.value).toBe(false);
  expect(p.status.value).not.toBe("LoadingFirstPage");
  expect(p.results.value).toEqual([]);
  // The failed page breaks nothing else: another subscription still gets its updates.
  const contents: string[] = [];
  me.onUpdate(api.shared.chat.getMessages, { conversationId: DEMO.conversationId, limit: 5 }, (pg) =>
    contents.push(...pg.messages.map((m) => m.content)),
  );
  const after = unique("after a failed page");
  await me.mutation(api.shared.chat.sendMessage, { conversationId: DEMO.conversationId, content: after, messageType: "text" });
  await vi.waitFor(() => expect(contents).toContain(after), { timeout: 10_000 });

  args.value = { conversationId: DEMO.conversationId };
  expect(p.error.value).toBeUndefined();
  await vi.waitFor(() => expect(p.results.value.length).toBe(2), { timeout: 10_000 });
  expect(p.isLoading.value).toBe(false);
  args.value = "skip";
  expect(p.isLoading.value).toBe(false);
  expect(p.results.value).toEqual([]);
  // One state: isLoading always agrees with status, and an error never comes with results.
  for (const s of seen) {
    expect(s.isLoading).toBe(s.status === "LoadingFirstPage" && !s.error);
    if (s.error) expect(s.n).toBe(0);
  }
});

test("a composable outside any effect scope warns that nothing will stop it", async () => {
  const me = clientFor(IDENTITIES.customer);
  const app = createApp({ render: () => null }).use(ParleyPlugin, { client: me });
  const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
  try {
    const conv = computed(() => DEMO.conversationId);
    app.runWithContext(() => useQuery(api.shared.chat.getConversation, () => ({ conversationId: conv.value })));
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("useQuery was called outside"));
  } finally {
    warn.mockRestore();
  }
});

test("useChat acknowledges what it receives: the sender sees it delivered", async () => {
  const me = clientFor({ sub: "cust-vue-ack", role: "customer", name: "Ada Vue" }); // a fresh conversation
  const admin = clientFor(IDENTITIES.admin);
  const { conversationId } = await me.mutation(api.shared.chat.createOrGetConversation, {});
  const mutate = vi.spyOn(me.convex.client, "mutation");
  const { wrapper, state: chat } = mountWith(
    me,
    () => useChat(ref<string | undefined>(conversationId)),
    (c) => h("ul", c.messages.value?.map((m) => h("li", { key: m._id }, m.content))),
  );
  await vi.waitFor(() => expect(chat.isLoading.value).toBe(false), { timeout: 10_000 });
  const incoming = unique("delivered to vue");
  const messageId = await admin.mutation(api.shared.chat.sendMessage, { conversationId, content: incoming, messageType: "text" });
  await vi.waitFor(() => expect(wrapper.text()).toContain(incoming), { timeout: 10_000 });
  await vi.waitFor(
    async () => {
      const page = await admin.query(api.shared.chat.getMessages, { conversationId, limit: 10 });
      expect(page.messages.find((m) => m._id === messageId)?.status).toBe("delivered");
    },
    { timeout: 10_000 },
  );
  const acks = mutate.mock.calls.filter(([name]) => name === "shared/chat:markDelivered").map(([, args]) => args);
  expect(acks).toEqual([{ conversationId, upToMessageId: messageId }]);
  mutate.mockRestore();
});
