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
import type { ConversationDoc, MarkReadResult, MessageDoc, MessagePage, TypingIndicator } from "../api.js";
import {
  attempt,
  markReadArgs,
  NoConversationError,
  sendArgs,
  typingArgs,
  unreadCountFor,
  type ChatMessageInput,
  type MarkAsReadInput,
  type UpdateTypingInput,
  type UseChatOptions,
} from "../chat.js";
import type { ConnectionStatus, ParleyClient, SendImageOptions, TokenIdentity } from "../client.js";
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

/**
 * Runs fn when the current effect scope (component) ends. Outside any
 * scope nothing would ever end the subscription: it warns (outside
 * production) and the subscription lives as long as the client.
 */
function onCleanup(fn: () => void, name: string): void {
  if (getCurrentScope()) {
    onScopeDispose(fn);
  } else if (isDev()) {
    console.warn(
      `@parley/client/vue: ${name} was called outside a component's setup or an effectScope(); ` +
        "its subscription is never stopped (it ends only when the client is closed).",
    );
  }
}

declare const process: { env: { NODE_ENV?: string } };

/**
 * Whether process.env.NODE_ENV is not "production". Written out literally
 * so that bundlers (Vite, webpack) replace it; where nothing defines
 * `process` (a browser without a bundler, React Native without it) the
 * ReferenceError counts as development.
 */
function isDev(): boolean {
  try {
    return process.env.NODE_ENV !== "production";
  } catch {
    return true;
  }
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
  }, "useQuery");
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
  isPending: Readonly<Ref<boolean>>;
}

/** Returns a function that runs mutation (e.g. `await send({ conversationId, content, messageType: "text" })`). */
export function useMutation<M extends FunctionReference<"mutation">>(mutation: M): UseMutationReturn<M> {
  const client = useParleyClient();
  const inflight = ref(0);
  const isPending: Readonly<Ref<boolean>> = computed(() => inflight.value > 0);
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
  /** Every loaded item, page after page ([] while loading, on error and when skipped). */
  results: ComputedRef<T[]>;
  /**
   * convex's status: "LoadingFirstPage" while the first page loads,
   * "CanLoadMore", "LoadingMore" or "Exhausted". When skipped or after an
   * error it is "Exhausted" (nothing more will load); see isLoading and error.
   */
  status: ComputedRef<PaginationStatus>;
  /** True while the first page loads (false when skipped or after an error). */
  isLoading: ComputedRef<boolean>;
  /** The error of the current subscription, if any. */
  error: ComputedRef<Error | undefined>;
  /** Loads numItems more; returns whether loading started. */
  loadMore(numItems: number): boolean;
}

interface PaginatedState<T> {
  results: T[];
  status: PaginationStatus;
  isLoading: boolean;
  error: Error | undefined;
}

/**
 * A paginated subscription (convex's pagination: pages stay live, grow and
 * split). args may be reactive; changing them starts over from the first
 * page with results cleared. results, status, isLoading and error change
 * together (one state underneath), as in useQuery.
 */
export function usePaginatedQuery<Q extends PaginatedQueryReference>(
  query: Q,
  args: MaybeRefOrGetter<PaginatedQueryArgs<Q> | "skip">,
  options: { initialNumItems: number },
): UsePaginatedQueryReturn<PaginatedQueryItem<Q>> {
  type T = PaginatedQueryItem<Q>;
  const client = useParleyClient();
  const loading: PaginatedState<T> = { results: [], status: "LoadingFirstPage", isLoading: true, error: undefined };
  const state = shallowRef<PaginatedState<T>>(loading);
  let loadMoreFn: ((n: number) => boolean) | undefined;
  let stop: (() => void) | undefined;

  const current = computed(() => {
    const a = toValue(args);
    return a === "skip" ? { skip: true as const, key: "skip" } : { skip: false as const, args: a, key: argsKey(a) };
  });
  const key = computed(() => `${options.initialNumItems}:${current.value.key}`);

  const fromResult = (r: PaginatedQueryResult<T> | undefined): PaginatedState<T> => {
    if (!r) return loading;
    loadMoreFn = r.loadMore;
    return { results: r.results, status: r.status, isLoading: r.status === "LoadingFirstPage", error: undefined };
  };
  const failed = (e: Error): PaginatedState<T> => {
    loadMoreFn = undefined;
    return { results: [], status: "Exhausted", isLoading: false, error: e };
  };
  const subscribe = () => {
    stop?.();
    stop = undefined;
    loadMoreFn = undefined;
    const c = current.value;
    if (c.skip) {
      state.value = { results: [], status: "Exhausted", isLoading: false, error: undefined };
      return;
    }
    let active = true;
    const unsubscribe = client.onPaginatedUpdate(
      query,
      c.args as PaginatedQueryArgs<Q>,
      { initialNumItems: options.initialNumItems },
      (r) => {
        if (active) state.value = fromResult(r as PaginatedQueryResult<T>);
      },
      (e) => {
        if (active) state.value = failed(e);
      },
    );
    stop = () => {
      active = false;
      unsubscribe();
    };
    try {
      state.value = fromResult(unsubscribe.getCurrentValue() as PaginatedQueryResult<T> | undefined);
    } catch (e) {
      state.value = failed(e as Error);
    }
  };
  watch(key, subscribe, { immediate: true, flush: "sync" });
  onCleanup(() => {
    stop?.();
    stop = undefined;
  }, "usePaginatedQuery");
  return {
    results: computed(() => state.value.results),
    status: computed(() => state.value.status),
    isLoading: computed(() => state.value.isLoading),
    error: computed(() => state.value.error),
    loadMore: (n: number) => loadMoreFn?.(n) ?? false,
  };
}

/** The connection status as a ref. */
export function useConnectionState(): Readonly<Ref<ConnectionStatus>> {
  const client = useParleyClient();
  const state = ref<ConnectionStatus>(client.connectionState());
  onCleanup(client.onConnectionStateChange((s) => (state.value = s)), "useConnectionState");
  return state;
}

/**
 * Whether live results may be out of date, as a ref (see
 * ParleyClient.isStale): the connection is down, or the server cannot
 * follow its database right now.
 */
export function useStale(): Readonly<Ref<boolean>> {
  const client = useParleyClient();
  const stale = ref(client.isStale());
  onCleanup(client.onStaleChange((s) => (stale.value = s)), "useStale");
  return stale;
}

/** The identity of the client's token as a ref (see ParleyClient.identity). */
export function useIdentity(): Readonly<ShallowRef<TokenIdentity | undefined>> {
  const client = useParleyClient();
  const identity = shallowRef<TokenIdentity | undefined>(client.identity());
  onCleanup(client.onIdentityChange((i) => (identity.value = i)), "useIdentity");
  return identity;
}

export type { ChatMessageInput, EventLike, MarkAsReadInput, UpdateTypingInput, UseChatOptions } from "../chat.js";

/** What {@link useChat} returns. */
export interface UseChatReturn {
  /** The newest messages, newest first; undefined while loading. */
  messages: ComputedRef<MessageDoc[] | undefined>;
  /** The whole getMessages page (isDone, continueCursor). */
  page: ComputedRef<MessagePage | undefined>;
  typingIndicators: ComputedRef<TypingIndicator[] | undefined>;
  /**
   * The caller's unread messages in this conversation (what markAsRead()
   * clears): getConversation's unreadCountCustomer for a customer,
   * unreadCountRecipient for store staff and admins (the role is read from
   * the token). Undefined while loading or signed out.
   */
  unreadCount: ComputedRef<number | undefined>;
  /** The caller's unread messages across all active conversations (getUnreadCount); undefined while loading, signed out or without a conversation. */
  totalUnreadCount: ComputedRef<number | undefined>;
  /** The conversation (getConversation); undefined while loading. */
  conversation: ComputedRef<ConversationDoc | undefined>;
  /** True until the current conversation's messages have arrived. */
  isLoading: ComputedRef<boolean>;
  /** The messages query's error (e.g. not_found), else undefined. */
  error: ComputedRef<Error | undefined>;
  sendMessage(message: ChatMessageInput): Promise<string>;
  sendImage(file: Blob, options?: SendImageOptions): Promise<string>;
  /**
   * Marks every unread message (no argument, or an event: `@click="markAsRead"`)
   * or the listed ones as read; also takes the API document's
   * `{ conversationId, messageIds? }`.
   */
  markAsRead(input?: MarkAsReadInput): Promise<MarkReadResult>;
  /** Sends a typing update as is (no debouncing): a boolean, or `{ conversationId, isTyping }`. */
  updateTyping(input: UpdateTypingInput): Promise<null>;
  /** Call on every keystroke (e.g. @input): debounced typing updates. */
  onInput(): void;
  /** Sends "stopped typing" now if "typing" was sent (e.g. on blur). */
  stopTyping(): void;
}

/**
 * The chat of one conversation: live messages, typing indicators and
 * unread counts, and the calls that change them (which also take the API
 * document's argument objects). conversationId may be a ref, getter or
 * computed; null/undefined skips.
 */
export function useChat(
  conversationId: MaybeRefOrGetter<string | null | undefined>,
  options: UseChatOptions = {},
): UseChatReturn {
  const client = useParleyClient();
  const identity = useIdentity();
  const limit = options.limit ?? 50;
  const id = computed(() => toValue(conversationId) || undefined);
  const withMessages = options.messages ?? true;
  const messagesQ = useQuery(api.shared.chat.getMessages, () =>
    id.value && withMessages ? { conversationId: id.value, limit } : "skip",
  );
  const typingQ = useQuery(api.shared.chat.getTypingIndicators, () =>
    id.value ? { conversationId: id.value } : "skip",
  );
  const conversationQ = useQuery(api.shared.chat.getConversation, () =>
    id.value ? { conversationId: id.value } : "skip",
  );
  const totalQ = useQuery(api.shared.chat.getUnreadCount, () => (id.value && identity.value ? {} : "skip"));

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
  }, "useChat");
  // What arrives is acknowledged as delivered (markDelivered).
  watch(
    [id, () => messagesQ.data.value?.messages, identity],
    ([conv, messages]) => {
      if (conv) void client.acknowledgeDelivery(conv, messages);
    },
    { immediate: true },
  );

  return {
    messages: computed(() => messagesQ.data.value?.messages),
    page: messagesQ.data,
    typingIndicators: typingQ.data,
    unreadCount: computed(() => unreadCountFor(conversationQ.data.value, identity.value)),
    totalUnreadCount: totalQ.data,
    conversation: conversationQ.data,
    isLoading: computed(
      () => id.value !== undefined && (withMessages ? messagesQ.isPending.value : conversationQ.isPending.value),
    ),
    error: withMessages ? messagesQ.error : conversationQ.error,
    sendMessage(message) {
      return attempt(
        () => sendArgs(id.value, message),
        (args) => {
          if (args.conversationId === id.value) notifier?.reset(); // the server ends typing on send
          return client.mutation(api.shared.chat.sendMessage, args);
        },
      );
    },
    sendImage(file, opts) {
      const conv = id.value;
      if (!conv) return Promise.reject(new NoConversationError());
      notifier?.reset();
      return client.sendImage(conv, file, opts);
    },
    markAsRead(input) {
      return attempt(
        () => markReadArgs(id.value, input),
        (args) => client.mutation(api.shared.chat.markMessagesAsRead, args),
      );
    },
    updateTyping(input) {
      return attempt(
        () => typingArgs(id.value, input),
        (args) => client.mutation(api.shared.chat.updateTypingStatus, args),
      );
    },
    onInput() {
      notifier?.input();
    },
    stopTyping() {
      notifier?.stop();
    },
  };
}
