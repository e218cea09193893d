// Type tests: the generated api types every call; a wrong argument is a
// compile error. Checked by `npm run typecheck` (tsc -p tsconfig.json, which
// includes test/; scripts/test.sh runs it), or by `npx vitest --typecheck`.

import { describe, expectTypeOf, test } from "vitest";
import {
  api,
  createParleyClient,
  isParleyError,
  type ConnectionStatus,
  type ConversationDoc,
  type ConversationRef,
  type ErrorCode,
  type MessageDoc,
  type MessagePage,
  type SendMessageArgs,
  type TypingIndicator,
} from "../src/index.js";
import { computed, ref } from "vue";
import * as react from "../src/react/index.js";
import * as vue from "../src/vue/index.js";

declare const client: ReturnType<typeof createParleyClient>;

describe("core", () => {
  test("query and mutation results follow the api", () => {
    expectTypeOf(client.query(api.shared.chat.getMessages, { conversationId: "c" })).resolves.toEqualTypeOf<MessagePage>();
    expectTypeOf(client.query(api.shared.chat.getUnreadCount)).resolves.toEqualTypeOf<number>();
    expectTypeOf(client.mutation(api.shared.chat.createOrGetConversation, {})).resolves.toEqualTypeOf<ConversationRef>();
    expectTypeOf(client.mutation(api.shared.chat.createOrGetStoreSupportConversation, { orderId: "o" })).resolves.toEqualTypeOf<ConversationRef>();
    expectTypeOf(client.mutation(api.shared.chat.sendMessage, { conversationId: "c", content: "hi", messageType: "text" }))
      .resolves.toEqualTypeOf<string>();
    expectTypeOf(client.connectionState()).toEqualTypeOf<ConnectionStatus>();
    expectTypeOf(client.uploadImage(new Blob())).resolves.toEqualTypeOf<{ storageId: string }>();
  });

  test("wrong arguments do not compile", () => {
    // @ts-expect-error conversationId is required
    void client.query(api.shared.chat.getMessages, {});
    // @ts-expect-error limit is a number
    void client.query(api.shared.chat.getMessages, { conversationId: "c", limit: "10" });
    // @ts-expect-error messageType is "text" | "image" | "system"
    void client.mutation(api.shared.chat.sendMessage, { conversationId: "c", content: "hi", messageType: "video" });
    // @ts-expect-error unknown argument
    void client.mutation(api.shared.chat.markMessagesAsRead, { conversationId: "c", everything: true });
    // @ts-expect-error a mutation is not a query
    void client.query(api.shared.chat.sendMessage, { conversationId: "c", content: "hi", messageType: "text" });
    // @ts-expect-error no such function
    void api.shared.chat.getMessage;
  });

  test("errors", () => {
    const e: unknown = new Error();
    if (isParleyError(e, "rate_limited")) {
      expectTypeOf(e.data.code).toEqualTypeOf<ErrorCode>();
      expectTypeOf(e.data.status).toEqualTypeOf<number>();
    }
    // @ts-expect-error not an error code
    isParleyError(e, "teapot");
  });
});

describe("react", () => {
  test("useQuery is typed by the api", () => {
    const page = react.useQuery(api.shared.chat.getMessages, { conversationId: "c" });
    expectTypeOf(page).toEqualTypeOf<MessagePage | undefined>();
    expectTypeOf(react.useQuery(api.shared.chat.getMessages, "skip")).toEqualTypeOf<MessagePage | undefined>();
    expectTypeOf(react.useQuery(api.shared.chat.getTypingIndicators, { conversationId: "c" })).toEqualTypeOf<
      TypingIndicator[] | undefined
    >();
    // @ts-expect-error conversationId must be a string
    react.useQuery(api.shared.chat.getMessages, { conversationId: 1 });
    // @ts-expect-error missing conversationId
    react.useQuery(api.shared.chat.getTypingIndicators, {});
  });

  test("useMutation and useChat", () => {
    const send = react.useMutation(api.shared.chat.sendMessage);
    expectTypeOf(send).parameter(0).toEqualTypeOf<SendMessageArgs>();
    expectTypeOf(send({ conversationId: "c", content: "x", messageType: "text" })).resolves.toEqualTypeOf<string>();
    // @ts-expect-error content is required
    void send({ conversationId: "c", messageType: "text" });

    const chat = react.useChat("c");
    expectTypeOf(chat.messages).toEqualTypeOf<MessageDoc[] | undefined>();
    expectTypeOf(chat.unreadCount).toEqualTypeOf<number | undefined>();
    expectTypeOf(chat.totalUnreadCount).toEqualTypeOf<number | undefined>();
    // The API document's forms, and onClick={markAsRead}.
    void chat.markAsRead({ conversationId: "c" });
    void chat.markAsRead({ conversationId: "c", messageIds: ["m"] });
    void chat.markAsRead(["m"]);
    void chat.markAsRead();
    void chat.markAsRead({} as unknown as import("react").MouseEvent<HTMLButtonElement>);
    void chat.updateTyping(true);
    void chat.updateTyping({ conversationId: "c", isTyping: true });
    void chat.sendMessage({ conversationId: "c", content: "x", messageType: "text" });
    // @ts-expect-error messageIds are strings
    void chat.markAsRead([1]);
    // @ts-expect-error isTyping is required
    void chat.updateTyping({ conversationId: "c" });
    // @ts-expect-error a number is no typing state
    void chat.updateTyping(1);
    expectTypeOf(chat.sendMessage).parameter(0).toEqualTypeOf<react.ChatMessageInput>();
    expectTypeOf(chat.onInput).toEqualTypeOf<() => void>();
    expectTypeOf(react.useConnectionState()).toEqualTypeOf<ConnectionStatus>();

    const pages = react.usePaginatedQuery(api.shared.chat.getMessagesPaginated, { conversationId: "c" }, { initialNumItems: 10 });
    expectTypeOf(pages.results).toEqualTypeOf<MessageDoc[]>();
    const inbox = react.usePaginatedQuery(api.shared.chat.getConversationsPaginated, { unreadOnly: true }, { initialNumItems: 20 });
    expectTypeOf(inbox.results).toEqualTypeOf<ConversationDoc[]>();
    react.usePaginatedQuery(api.shared.chat.getConversationsPaginated, { kind: "store_to_admin" }, { initialNumItems: 20 });
    // @ts-expect-error kind is "customer_to_store", "customer_to_admin" or "store_to_admin"
    react.usePaginatedQuery(api.shared.chat.getConversationsPaginated, { kind: "group" }, { initialNumItems: 20 });
  });
});

describe("vue", () => {
  test("useQuery takes a value, ref, getter or computed, or skip", () => {
    const q = vue.useQuery(api.shared.chat.getMessages, () => ({ conversationId: "c" }));
    expectTypeOf(q.data.value).toEqualTypeOf<MessagePage | undefined>();
    expectTypeOf(q.isPending.value).toEqualTypeOf<boolean>();
    expectTypeOf(q.error.value).toEqualTypeOf<Error | undefined>();
    vue.useQuery(api.shared.chat.getUnreadCount);
    vue.useQuery(api.shared.chat.getMessages, "skip");
    vue.useQuery(api.shared.chat.getMessages, () => "skip" as const);
    const asRef = ref({ conversationId: "c", limit: 5 });
    expectTypeOf(vue.useQuery(api.shared.chat.getMessages, asRef).data.value).toEqualTypeOf<MessagePage | undefined>();
    const asComputed = computed(() => ({ conversationId: "c" }));
    expectTypeOf(vue.useQuery(api.shared.chat.getConversation, asComputed).data.value?._id).toEqualTypeOf<string | undefined>();
    const skippable = computed(() => (Math.random() > 0.5 ? ({ conversationId: "c" } as const) : ("skip" as const)));
    vue.useQuery(api.shared.chat.getTypingIndicators, skippable);
    // @ts-expect-error a ref of the wrong arguments
    vue.useQuery(api.shared.chat.getMessages, ref({ limit: 5 }));
    // @ts-expect-error a computed of the wrong arguments
    vue.useQuery(api.shared.chat.getMessages, computed(() => ({ conversationId: 1 })));
    // @ts-expect-error conversationId is required
    vue.useQuery(api.shared.chat.getMessages, () => ({ limit: 3 }));
    // @ts-expect-error arguments are required
    vue.useQuery(api.shared.chat.getMessages);
  });

  test("useMutation, usePaginatedQuery and useChat", () => {
    const read = vue.useMutation(api.shared.chat.markMessagesAsRead);
    expectTypeOf(read({ conversationId: "c" })).resolves.toEqualTypeOf<{ markedCount: number; messageIds: string[] }>();
    // @ts-expect-error messageIds is a string array
    void read({ conversationId: "c", messageIds: [1] });

    const p = vue.usePaginatedQuery(api.shared.chat.getMessagesPaginated, { conversationId: "c" }, { initialNumItems: 5 });
    expectTypeOf(p.results.value).toEqualTypeOf<MessageDoc[]>();
    // @ts-expect-error getMessages is not a paginated query
    vue.usePaginatedQuery(api.shared.chat.getMessages, { conversationId: "c" }, { initialNumItems: 5 });

    expectTypeOf(read.isPending.value).toEqualTypeOf<boolean>();
    // @ts-expect-error isPending is read-only
    read.isPending.value = true;
    expectTypeOf(p.isLoading.value).toEqualTypeOf<boolean>();
    expectTypeOf(p.error.value).toEqualTypeOf<Error | undefined>();

    const chat = vue.useChat(() => "c");
    expectTypeOf(chat.unreadCount.value).toEqualTypeOf<number | undefined>();
    expectTypeOf(chat.totalUnreadCount.value).toEqualTypeOf<number | undefined>();
    void chat.markAsRead(new Event("click"));
    void chat.markAsRead({ conversationId: "c" });
    expectTypeOf(chat.messages.value).toEqualTypeOf<MessageDoc[] | undefined>();
    expectTypeOf(chat.typingIndicators.value).toEqualTypeOf<TypingIndicator[] | undefined>();
  });
});
