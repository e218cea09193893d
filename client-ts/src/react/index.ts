// @parley/client/react: the React adapter. It shares the ParleyClient's
// socket with convex's React client, so convex's hooks (useQuery,
// useMutation, usePaginatedQuery) run unchanged, typed by the generated api.
// React Native: nothing here touches DOM globals (see the README).

import { ConvexProvider, ConvexReactClient, useQuery } from "convex/react";
import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import { api } from "../api.js";
import type { FunctionArgs } from "convex/server";
import type {
  ConversationDoc,
  MarkReadResult,
  MessageDoc,
  MessagePage,
  SendMessageArgs,
  TypingIndicator,
} from "../api.js";
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

export {
  useQuery,
  useMutation,
  usePaginatedQuery,
  useAction,
  useConvex,
  type ReactMutation,
  type UsePaginatedQueryResult,
  type PaginationStatus,
} from "convex/react";

const reactClients = new WeakMap<ParleyClient, ConvexReactClient>();

/**
 * The ConvexReactClient of client: built once per ParleyClient on the same
 * BaseConvexClient (one socket, one query set, one auth), so convex's React
 * hooks and the ParleyClient see the same data. ParleyProvider uses it;
 * close the ParleyClient, not this.
 */
export function convexReactClientFor(client: ParleyClient): ConvexReactClient {
  let c = reactClients.get(client);
  if (!c) {
    // baseClient is an @internal option of ConvexReactClient in the pinned
    // convex version (1.48.0): it makes the React client use our socket.
    c = new ConvexReactClient(client.url, {
      baseClient: client.convex.client,
      skipConvexDeploymentUrlCheck: true,
    } as ConstructorParameters<typeof ConvexReactClient>[1]);
    reactClients.set(client, c);
  }
  return c;
}

const ParleyContext = createContext<ParleyClient | undefined>(undefined);

/** Props of {@link ParleyProvider}. */
export interface ParleyProviderProps {
  client: ParleyClient;
  children?: ReactNode;
}

/**
 * Makes client available to the hooks below it (and to convex's own hooks:
 * it renders a ConvexProvider too).
 */
export function ParleyProvider({ client, children }: ParleyProviderProps) {
  const convex = convexReactClientFor(client);
  return createElement(
    ParleyContext.Provider,
    { value: client },
    createElement(ConvexProvider, { client: convex }, children),
  );
}

/** The ParleyClient of the nearest ParleyProvider. */
export function useParleyClient(): ParleyClient {
  const client = useContext(ParleyContext);
  if (!client) {
    throw new Error("useParleyClient: no ParleyProvider above this component");
  }
  return client;
}

/** The connection status, re-rendering when it changes. */
export function useConnectionState(): ConnectionStatus {
  const client = useParleyClient();
  const subscribe = useCallback((cb: () => void) => client.onConnectionStateChange(cb), [client]);
  const get = useCallback(() => client.connectionState(), [client]);
  return useSyncExternalStore(subscribe, get, () => "connecting" as ConnectionStatus);
}

/**
 * Whether live results may be out of date (see ParleyClient.isStale): the
 * connection is down, or the server cannot follow its database right now.
 * Re-renders when it changes.
 */
export function useStale(): boolean {
  const client = useParleyClient();
  const subscribe = useCallback((cb: () => void) => client.onStaleChange(cb), [client]);
  const get = useCallback(() => client.isStale(), [client]);
  return useSyncExternalStore(subscribe, get, () => true);
}

export type { ChatMessageInput, EventLike, MarkAsReadInput, UpdateTypingInput, UseChatOptions } from "../chat.js";

/** What {@link useChat} returns. */
export interface UseChatResult {
  /** The newest messages, newest first (getMessages' order); undefined while loading. */
  messages: MessageDoc[] | undefined;
  /** The whole getMessages page (isDone, continueCursor). */
  page: MessagePage | undefined;
  /** Who else is typing in the conversation. */
  typingIndicators: TypingIndicator[] | undefined;
  /**
   * The caller's unread messages in this conversation (what markAsRead()
   * clears): getConversation's unreadCountCustomer for a customer,
   * unreadCountRecipient for store staff and admins (the role is read from
   * the token). Undefined while loading or signed out.
   */
  unreadCount: number | undefined;
  /** The caller's unread messages across all active conversations (getUnreadCount); undefined while loading, signed out or without a conversation. */
  totalUnreadCount: number | undefined;
  /** The conversation (getConversation); undefined while loading. */
  conversation: ConversationDoc | undefined;
  /** True until the messages have arrived. */
  isLoading: boolean;
  /** Sends a text message (a string) or any message; resolves with its id. Ends typing. */
  sendMessage(message: ChatMessageInput): Promise<string>;
  /** Uploads an image (checked against the chat settings first) and sends it. */
  sendImage(file: Blob, options?: SendImageOptions): Promise<string>;
  /**
   * Marks every unread message (no argument, or an event: `onClick={markAsRead}`)
   * or the listed ones as read; also takes the API document's
   * `{ conversationId, messageIds? }`.
   */
  markAsRead(input?: MarkAsReadInput): Promise<MarkReadResult>;
  /** Sends a typing update as is (no debouncing): a boolean, or `{ conversationId, isTyping }`. */
  updateTyping(input: UpdateTypingInput): Promise<null>;
  /** Call on every keystroke: sends debounced typing updates. */
  onInput(): void;
  /** Sends "stopped typing" now if "typing" was sent (e.g. on blur). */
  stopTyping(): void;
}

/** The identity of the client's token, re-rendering when it changes. */
export function useIdentity(): TokenIdentity | undefined {
  const client = useParleyClient();
  const subscribe = useCallback((cb: () => void) => client.onIdentityChange(cb), [client]);
  const get = useCallback(() => client.identity(), [client]);
  return useSyncExternalStore(subscribe, get, () => undefined);
}

/**
 * The chat of one conversation, as the API document's React example:
 * live messages, typing indicators and unread counts, and the calls that
 * change them (which also take the document's argument objects).
 * conversationId null or undefined skips every subscription. Like convex's
 * useQuery, a query error (e.g. not_found) is thrown to the nearest error
 * boundary.
 */
export function useChat(conversationId: string | null | undefined, options: UseChatOptions = {}): UseChatResult {
  const client = useParleyClient();
  const identity = useIdentity();
  const limit = options.limit ?? 50;
  const id = conversationId || undefined;
  const withMessages = options.messages ?? true;
  const page = useQuery(api.shared.chat.getMessages, id && withMessages ? { conversationId: id, limit } : "skip");
  const typingIndicators = useQuery(api.shared.chat.getTypingIndicators, id ? { conversationId: id } : "skip");
  const conversation = useQuery(api.shared.chat.getConversation, id ? { conversationId: id } : "skip");
  const totalUnreadCount = useQuery(api.shared.chat.getUnreadCount, id && identity ? {} : "skip");
  // Through the ParleyClient, not convex's useMutation: its mutation
  // retries a call the server could not run for want of its database.
  const send = useCallback((args: SendMessageArgs) => client.mutation(api.shared.chat.sendMessage, args), [client]);
  const markRead = useCallback(
    (args: FunctionArgs<typeof api.shared.chat.markMessagesAsRead>) =>
      client.mutation(api.shared.chat.markMessagesAsRead, args),
    [client],
  );
  const typing = useCallback(
    (args: FunctionArgs<typeof api.shared.chat.updateTypingStatus>) =>
      client.mutation(api.shared.chat.updateTypingStatus, args),
    [client],
  );

  const updateTyping = useCallback(
    (input: UpdateTypingInput) => attempt(() => typingArgs(id, input), (args) => typing(args)),
    [typing, id],
  );

  // One notifier per conversation, created in the effect so that React's
  // StrictMode double mount gets a fresh one; leaving sends "stopped typing".
  const notifier = useRef<TypingNotifier | undefined>(undefined);
  const { typingThrottleMs, typingIdleMs } = options;
  useEffect(() => {
    if (!id) return undefined;
    const n = new TypingNotifier((isTyping) => typing({ conversationId: id, isTyping }), {
      ...(typingThrottleMs !== undefined ? { throttleMs: typingThrottleMs } : {}),
      ...(typingIdleMs !== undefined ? { idleMs: typingIdleMs } : {}),
    });
    notifier.current = n;
    return () => {
      n.dispose();
      if (notifier.current === n) notifier.current = undefined;
    };
  }, [typing, id, typingThrottleMs, typingIdleMs]);

  const sendMessage = useCallback(
    (message: ChatMessageInput) =>
      attempt(
        () => sendArgs(id, message),
        (args) => {
          if (args.conversationId === id) notifier.current?.reset(); // the server ends typing on send
          return send(args);
        },
      ),
    [send, id],
  );
  const sendImage = useCallback(
    (file: Blob, opts?: SendImageOptions) => {
      if (!id) return Promise.reject(new NoConversationError());
      notifier.current?.reset();
      return client.sendImage(id, file, opts);
    },
    [client, id],
  );
  const markAsRead = useCallback(
    (input?: MarkAsReadInput) => attempt(() => markReadArgs(id, input), (args) => markRead(args)),
    [markRead, id],
  );
  // What arrives is acknowledged as delivered (markDelivered).
  const messages = page?.messages;
  useEffect(() => {
    if (id) void client.acknowledgeDelivery(id, messages);
  }, [client, id, messages, identity]);

  const onInput = useCallback(() => notifier.current?.input(), []);
  const stopTyping = useCallback(() => notifier.current?.stop(), []);
  const unreadCount = unreadCountFor(conversation, identity);

  return useMemo(
    () => ({
      messages: page?.messages,
      page,
      typingIndicators,
      unreadCount,
      totalUnreadCount,
      conversation,
      isLoading: id !== undefined && (withMessages ? page === undefined : conversation === undefined),
      sendMessage,
      sendImage,
      markAsRead,
      updateTyping,
      onInput,
      stopTyping,
    }),
    [
      page,
      withMessages,
      typingIndicators,
      unreadCount,
      totalUnreadCount,
      conversation,
      id,
      sendMessage,
      sendImage,
      markAsRead,
      updateTyping,
      onInput,
      stopTyping,
    ],
  );
}
