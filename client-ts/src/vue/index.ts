// @parley/client/vue: the Vue adapter. Composables subscribe through the
// ParleyClient and stop with the effect scope (component) that called them.

import type { PaginationStatus } from "convex/browser";
import type {
  FunctionArgs,
  FunctionReference,
  FunctionReturnType,
  OptionalRestArgs,
  PaginationOptions,
  PaginationResult,
} from "convex/server";
import { convexToJson, type Value } from "convex/values";
import {
  computed,
  getCurrentScope,
  inject,
  onScopeDispose,
  ref,
  shallowRef,
  toValue,
  watch,
  type App,
  type ComputedRef,
  type InjectionKey,
  type MaybeRefOrGetter,
  type Ref,
  type ShallowRef,
} from "vue";
import { api } from "../api.js";
import type { MarkReadResult, MessageDoc, MessagePage, SendMessageArgs, TypingIndicator } from "../api.js";
import type { ConnectionStatus, ParleyClient, SendImageOptions } from "../client.js";
import { TypingNotifier } from "../typing.js";

export type { PaginationStatus };

/** A paginated subscription's local value (convex's PaginatedQueryResult, not exported by convex/browser). */
interface PaginatedQueryResult<T> {
  results: T[];
  status: PaginationStatus;
  loadMore: (numItems: number) => boolean;
}

/** The injection key of the ParleyClient. */
export const parleyClientKey: InjectionKey<ParleyClient> = Symbol("parley-client");

/** Options of {@link ParleyPlugin}. */
export interface ParleyPluginOptions {
  client: ParleyClient;
}

/** `app.use(ParleyPlugin, { client })` makes client available to the composables. */
export const ParleyPlugin = {
  install(app: App, options: ParleyPluginOptions) {
    if (!options?.client) throw new Error("ParleyPlugin: options.client is required");
    app.provide(parleyClientKey, options.client);
  },
};

/** The ParleyClient the plugin installed. */
export function useParleyClient(): ParleyClient {
  const client = inject(parleyClientKey, undefined);
  if (!client) {
    throw new Error("useParleyClient: install ParleyPlugin (app.use(ParleyPlugin, { client })) first");
  }
  return client;
}

/** Runs fn when the current effect scope (component) ends. */
function onCleanup(fn: () => void): void {
  if (getCurrentScope()) onScopeDispose(fn);
}

function argsKey(args: unknown): string {
  return JSON.stringify(convexToJson((args ?? {}) as Value));
}

/** The arguments of a query composable: a value, ref, getter or computed; "skip" (or a getter returning it) skips. */
export type QueryArgsSource<Q extends FunctionReference<"query">> = MaybeRefOrGetter<FunctionArgs<Q> | "skip">;

/** What {@link useQuery} returns. */
export interface UseQueryReturn<T> {
  /** The current result: undefined while pending, on error and when skipped. Never the previous arguments' result. */
  data: ComputedRef<T | undefined>;
  /** The query's error (e.g. a ConvexError with ParleyErrorData), else undefined. */
  error: ComputedRef<Error | undefined>;
  /** True while the current arguments' first result has not arrived (false when skipped). */
  isPending: ComputedRef<boolean>;
}

interface QueryState<T> {
  data: T | undefined;
  error: Error | undefined;
  isPending: boolean;
}

/**
 * Subscribes to a query. args may be reactive: when they change, the old
 * subscription ends and data is cleared at once (isPending turns true), so
 * the previous arguments' result is never shown as the current one. data,
 * error and isPending change together (one state underneath), so even a
 * synchronous watcher never sees a mix of two states.
 */
export function useQuery<Q extends FunctionReference<"query">>(
  query: Q,
  ...args: FunctionArgs<Q> extends Record<string, never>
    ? [args?: QueryArgsSource<Q>]
    : [args: QueryArgsSource<Q>]
): UseQueryReturn<FunctionReturnType<Q>> {
  type T = FunctionReturnType<Q>;
  const client = useParleyClient();
  const source = args[0] as QueryArgsSource<Q> | undefined;
  const state = shallowRef<QueryState<T>>({ data: undefined, error: undefined, isPending: true });
  let stop: (() => void) | undefined;

  const current = computed(() => {
    const a = source === undefined ? ({} as FunctionArgs<Q>) : toValue(source);
    return a === "skip" ? { skip: true as const, key: "skip" } : { skip: false as const, args: a, key: argsKey(a) };
  });
  const key = computed(() => current.value.key);

  const subscribe = () => {
    stop?.();
    stop = undefined;
    const c = current.value;
    if (c.skip) {
      state.value = { data: undefined, error: undefined, isPending: false };
      return;
    }
    let active = true;
    const unsubscribe = client.onUpdate(
      query,
      c.args,
      (v) => {
        if (active) state.value = { data: v, error: undefined, isPending: false };
      },
      (e) => {
        if (active) state.value = { data: undefined, error: e, isPending: false };
      },
    );
    stop = () => {
      active = false;
      unsubscribe();
    };
    // A result the client already holds (another subscriber) shows at once.
    let next: QueryState<T> = { data: undefined, error: undefined, isPending: true };
    try {
      const v = unsubscribe.getCurrentValue();
      if (v !== undefined) next = { data: v, error: undefined, isPending: false };
    } catch (e) {
      next = { data: undefined, error: e as Error, isPending: false };
    }
    state.value = next;
  };
  // flush "sync": the moment the arguments change, the old data is gone.
  watch(key, subscribe, { immediate: true, flush: "sync" });
  onCleanup(() => {
    stop?.();
    stop = undefined;
  });
  return {
    data: computed(() => state.value.data),
    error: computed(() => state.value.error),
    isPending: computed(() => state.value.isPending),
  };
}

/** A mutation as a function; also exposes whether a call is in flight. */
export interface UseMutationReturn<M extends FunctionReference<"mutation">> {
  (...args: OptionalRestArgs<M>): Promise<Awaited<FunctionReturnType<M>>>;
  /** True while at least one call is in flight. */
  isPending: Ref<boolean>;
}

/** Returns a function that runs mutation (e.g. `await send({ conversationId, content, messageType: "text" })`). */
export function useMutation<M extends FunctionReference<"mutation">>(mutation: M): UseMutationReturn<M> {
  const client = useParleyClient();
  const inflight = ref(0);
  const isPending = computed(() => inflight.value > 0) as unknown as Ref<boolean>;
  const run = async (...args: OptionalRestArgs<M>) => {
    inflight.value++;
    try {
      return await client.mutation(mutation, ...args);
    } finally {
      inflight.value--;
    }
  };
  return Object.assign(run, { isPending });
}

/** A query usable with usePaginatedQuery: takes paginationOpts, returns a PaginationResult. */
export type PaginatedQueryReference = FunctionReference<
  "query",
  "public",
  { paginationOpts: PaginationOptions },
  PaginationResult<unknown>
>;

/** The item type of a paginated query. */
export type PaginatedQueryItem<Q extends PaginatedQueryReference> = FunctionReturnType<Q>["page"][number];

/** The arguments of a paginated query without paginationOpts. */
export type PaginatedQueryArgs<Q extends PaginatedQueryReference> = Omit<FunctionArgs<Q>, "paginationOpts">;

/** What {@link usePaginatedQuery} returns. */
export interface UsePaginatedQueryReturn<T> {
  /** Every loaded item, page after page. */
  results: ShallowRef<T[]>;
  status: Ref<PaginationStatus>;
  /** True while the first page loads. */
  isLoading: ComputedRef<boolean>;
  /** The error of the current subscription, if any. */
  error: ShallowRef<Error | undefined>;
  /** Loads numItems more; returns whether loading started. */
  loadMore(numItems: number): boolean;
}

/**
 * A paginated subscription (convex's pagination: pages stay live, grow and
 * split). args may be reactive; changing them starts over from the first
 * page with results cleared.
 */
export function usePaginatedQuery<Q extends PaginatedQueryReference>(
  query: Q,
  args: MaybeRefOrGetter<PaginatedQueryArgs<Q> | "skip">,
  options: { initialNumItems: number },
): UsePaginatedQueryReturn<PaginatedQueryItem<Q>> {
  const client = useParleyClient();
  const results = shallowRef<PaginatedQueryItem<Q>[]>([]);
  const status = ref<PaginationStatus>("LoadingFirstPage");
  const error = shallowRef<Error | undefined>(undefined);
  let loadMoreFn: ((n: number) => boolean) | undefined;
  let stop: (() => void) | undefined;

  const current = computed(() => {
    const a = toValue(args);
    return a === "skip" ? { skip: true as const, key: "skip" } : { skip: false as const, args: a, key: argsKey(a) };
  });
  const key = computed(() => `${options.initialNumItems}:${current.value.key}`);

  const apply = (r: PaginatedQueryResult<PaginatedQueryItem<Q>> | undefined) => {
    if (!r) return;
    results.value = r.results;
    status.value = r.status;
    loadMoreFn = r.loadMore;
  };
  const subscribe = () => {
    stop?.();
    stop = undefined;
    loadMoreFn = undefined;
    results.value = [];
    error.value = undefined;
    const c = current.value;
    if (c.skip) {
      status.value = "LoadingFirstPage";
      return;
    }
    status.value = "LoadingFirstPage";
    let active = true;
    const unsubscribe = client.convex.onPaginatedUpdate_experimental(
      query,
      c.args as FunctionArgs<Q>,
      { initialNumItems: options.initialNumItems },
      () => {
        if (!active) return;
        error.value = undefined;
        apply(unsubscribe.getCurrentValue() as PaginatedQueryResult<PaginatedQueryItem<Q>> | undefined);
      },
      (e) => {
        if (active) error.value = e;
      },
    );
    stop = () => {
      active = false;
      unsubscribe();
    };
    try {
      apply(unsubscribe.getCurrentValue() as PaginatedQueryResult<PaginatedQueryItem<Q>> | undefined);
    } catch (e) {
      error.value = e as Error;
    }
  };
  watch(key, subscribe, { immediate: true, flush: "sync" });
  onCleanup(() => {
    stop?.();
    stop = undefined;
  });
  return {
    results,
    status,
    isLoading: computed(() => status.value === "LoadingFirstPage"),
    error,
    loadMore: (n: number) => loadMoreFn?.(n) ?? false,
  };
}

/** The connection status as a ref. */
export function useConnectionState(): Readonly<Ref<ConnectionStatus>> {
  const client = useParleyClient();
  const state = ref<ConnectionStatus>(client.connectionState());
  onCleanup(client.onConnectionStateChange((s) => (state.value = s)));
  return state;
}

/** Options of {@link useChat}. */
export interface UseChatOptions {
  /** How many of the newest messages to subscribe to. Undefined means 50. */
  limit?: number;
  /** Continuous typing re-sends "typing" at most this often. Undefined means 2000ms. */
  typingThrottleMs?: number;
  /** A pause this long sends "stopped typing". Undefined means 2000ms. */
  typingIdleMs?: number;
}

/** A message to send: its content, or sendMessage's arguments without the conversation. */
export type ChatMessageInput = string | Omit<SendMessageArgs, "conversationId">;

/** What {@link useChat} returns. */
export interface UseChatReturn {
  /** The newest messages, newest first; undefined while loading. */
  messages: ComputedRef<MessageDoc[] | undefined>;
  /** The whole getMessages page (isDone, continueCursor). */
  page: ComputedRef<MessagePage | undefined>;
  typingIndicators: ComputedRef<TypingIndicator[] | undefined>;
  /** The caller's total of unread messages (all conversations). */
  unreadCount: ComputedRef<number | undefined>;
  /** True until the current conversation's messages have arrived. */
  isLoading: ComputedRef<boolean>;
  /** The messages query's error (e.g. not_found), else undefined. */
  error: ComputedRef<Error | undefined>;
  sendMessage(message: ChatMessageInput): Promise<string>;
  sendImage(file: Blob, options?: SendImageOptions): Promise<string>;
  markAsRead(messageIds?: string[]): Promise<MarkReadResult>;
  /** Sends a typing update as is (no debouncing). */
  updateTyping(isTyping: boolean): Promise<null>;
  /** Call on every keystroke (e.g. @input): debounced typing updates. */
  onInput(): void;
  /** Sends "stopped typing" now if "typing" was sent (e.g. on blur). */
  stopTyping(): void;
}

/**
 * The chat of one conversation: live messages, typing indicators and
 * unread count, and the calls that change them. conversationId may be a
 * ref, getter or computed; null/undefined skips.
 */
export function useChat(
  conversationId: MaybeRefOrGetter<string | null | undefined>,
  options: UseChatOptions = {},
): UseChatReturn {
  const client = useParleyClient();
  const limit = options.limit ?? 50;
  const id = computed(() => toValue(conversationId) || undefined);
  const messagesQ = useQuery(api.shared.chat.getMessages, () =>
    id.value ? { conversationId: id.value, limit } : "skip",
  );
  const typingQ = useQuery(api.shared.chat.getTypingIndicators, () =>
    id.value ? { conversationId: id.value } : "skip",
  );
  const unreadQ = useQuery(api.shared.chat.getUnreadCount, {});

  const typingUpdate = (conversation: string, isTyping: boolean) =>
    client.mutation(api.shared.chat.updateTypingStatus, { conversationId: conversation, isTyping });
  let notifier: TypingNotifier | undefined;
  watch(
    id,
    (now) => {
      notifier?.dispose();
      notifier = now
        ? new TypingNotifier((isTyping) => typingUpdate(now, isTyping), {
            ...(options.typingThrottleMs !== undefined ? { throttleMs: options.typingThrottleMs } : {}),
            ...(options.typingIdleMs !== undefined ? { idleMs: options.typingIdleMs } : {}),
          })
        : undefined;
    },
    { immediate: true, flush: "sync" },
  );
  onCleanup(() => {
    notifier?.dispose();
    notifier = undefined;
  });

  const noConversation = () => Promise.reject(new Error("useChat: no conversation"));
  return {
    messages: computed(() => messagesQ.data.value?.messages),
    page: messagesQ.data,
    typingIndicators: typingQ.data,
    unreadCount: unreadQ.data,
    isLoading: computed(() => id.value !== undefined && messagesQ.isPending.value),
    error: messagesQ.error,
    sendMessage(message) {
      const conv = id.value;
      if (!conv) return noConversation();
      const args: SendMessageArgs =
        typeof message === "string"
          ? { conversationId: conv, content: message, messageType: "text" }
          : { ...message, conversationId: conv };
      notifier?.reset();
      return client.mutation(api.shared.chat.sendMessage, args);
    },
    sendImage(file, opts) {
      const conv = id.value;
      if (!conv) return noConversation();
      notifier?.reset();
      return client.sendImage(conv, file, opts);
    },
    markAsRead(messageIds) {
      const conv = id.value;
      if (!conv) return noConversation();
      return client.mutation(
        api.shared.chat.markMessagesAsRead,
        messageIds ? { conversationId: conv, messageIds } : { conversationId: conv },
      );
    },
    updateTyping(isTyping) {
      const conv = id.value;
      return conv ? typingUpdate(conv, isTyping) : noConversation();
    },
    onInput() {
      notifier?.input();
    },
    stopTyping() {
      notifier?.stop();
    },
  };
}
