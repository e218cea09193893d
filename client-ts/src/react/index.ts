// @parley/client/react: the React adapter. It shares the ParleyClient's
// socket with convex's React client, so convex's hooks (useQuery,
// useMutation, usePaginatedQuery) run unchanged, typed by the generated api.
// React Native: nothing here touches DOM globals (see the README).

import { ConvexProvider, ConvexReactClient, useMutation, useQuery } from "convex/react";
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
import type { MarkReadResult, MessageDoc, MessagePage, SendMessageArgs, TypingIndicator } from "../api.js";
import type { ConnectionStatus, ParleyClient, SendImageOptions } from "../client.js";
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
export interface UseChatResult {
  /** The newest messages, newest first (getMessages' order); undefined while loading. */
  messages: MessageDoc[] | undefined;
  /** The whole getMessages page (isDone, continueCursor). */
  page: MessagePage | undefined;
  /** Who else is typing in the conversation. */
  typingIndicators: TypingIndicator[] | undefined;
  /** The caller's total of unread messages (all conversations). */
  unreadCount: number | undefined;
  /** True until the messages have arrived. */
  isLoading: boolean;
  /** Sends a text message (a string) or any message; resolves with its id. Ends typing. */
  sendMessage(message: ChatMessageInput): Promise<string>;
  /** Uploads an image (checked against the chat settings first) and sends it. */
  sendImage(file: Blob, options?: SendImageOptions): Promise<string>;
  /** Marks the listed messages, or every unread one, as read. */
  markAsRead(messageIds?: string[]): Promise<MarkReadResult>;
  /** Sends a typing update as is (no debouncing). */
  updateTyping(isTyping: boolean): Promise<null>;
  /** Call on every keystroke: sends debounced typing updates. */
  onInput(): void;
  /** Sends "stopped typing" now if "typing" was sent (e.g. on blur). */
  stopTyping(): void;
}

function noConversation(): Promise<never> {
  return Promise.reject(new Error("useChat: no conversation"));
}

/**
 * The chat of one conversation, as the API document's React example:
 * live messages, typing indicators and unread count, and the calls that
 * change them. conversationId null or undefined skips the subscriptions.
 * Like convex's useQuery, a query error (e.g. not_found) is thrown to the
 * nearest error boundary.
 */
export function useChat(conversationId: string | null | undefined, options: UseChatOptions = {}): UseChatResult {
  const client = useParleyClient();
  const limit = options.limit ?? 50;
  const id = conversationId || undefined;
  const page = useQuery(api.shared.chat.getMessages, id ? { conversationId: id, limit } : "skip");
  const typingIndicators = useQuery(api.shared.chat.getTypingIndicators, id ? { conversationId: id } : "skip");
  const unreadCount = useQuery(api.shared.chat.getUnreadCount, {});
  const send = useMutation(api.shared.chat.sendMessage);
  const markRead = useMutation(api.shared.chat.markMessagesAsRead);
  const typing = useMutation(api.shared.chat.updateTypingStatus);

  const updateTyping = useCallback(
    (isTyping: boolean) => (id ? typing({ conversationId: id, isTyping }) : noConversation()),
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
    (message: ChatMessageInput) => {
      if (!id) return noConversation();
      const args: SendMessageArgs =
        typeof message === "string"
          ? { conversationId: id, content: message, messageType: "text" }
          : { ...message, conversationId: id };
      notifier.current?.reset(); // the server ends typing on send
      return send(args);
    },
    [send, id],
  );
  const sendImage = useCallback(
    (file: Blob, opts?: SendImageOptions) => {
      if (!id) return noConversation();
      notifier.current?.reset();
      return client.sendImage(id, file, opts);
    },
    [client, id],
  );
  const markAsRead = useCallback(
    (messageIds?: string[]) =>
      id ? markRead(messageIds ? { conversationId: id, messageIds } : { conversationId: id }) : noConversation(),
    [markRead, id],
  );
  const onInput = useCallback(() => notifier.current?.input(), []);
  const stopTyping = useCallback(() => notifier.current?.stop(), []);

  return useMemo(
    () => ({
      messages: page?.messages,
      page,
      typingIndicators,
      unreadCount,
      isLoading: id !== undefined && page === undefined,
      sendMessage,
      sendImage,
      markAsRead,
      updateTyping,
      onInput,
      stopTyping,
    }),
    [page, typingIndicators, unreadCount, id, sendMessage, sendImage, markAsRead, updateTyping, onInput, stopTyping],
  );
}
