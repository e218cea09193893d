// What useChat (React and Vue) shares: its calls accept both their own short
// forms and the API document's argument objects, and the caller's unread
// count of one conversation.

import type {
  ConversationDoc,
  MarkMessagesAsReadArgs,
  SendMessageArgs,
  UpdateTypingStatusArgs,
} from "./api.js";
import type { TokenIdentity } from "./client.js";

/** A message to send: its content, or sendMessage's arguments (conversationId defaults to the chat's). */
/** Options of useChat (React and Vue). */
export interface UseChatOptions {
  /** How many of the newest messages to subscribe to. Undefined means 50. */
  limit?: number;
  /**
   * False skips the messages subscription (messages and page stay
   * undefined), for screens that list messages themselves, e.g. with
   * usePaginatedQuery. Undefined means true.
   */
  messages?: boolean;
  /** Continuous typing re-sends "typing" at most this often. Undefined means 2000ms. */
  typingThrottleMs?: number;
  /** A pause this long sends "stopped typing". Undefined means 2000ms. */
  typingIdleMs?: number;
}

export type ChatMessageInput = string | (Omit<SendMessageArgs, "conversationId"> & { conversationId?: string });

/** Something with preventDefault (a DOM or React event): `onClick={markAsRead}` marks everything read. */
export interface EventLike {
  preventDefault(): void;
}

/**
 * What markAsRead takes: nothing (every unread message), the message ids,
 * the API document's `{ conversationId, messageIds? }`, or an event.
 */
export type MarkAsReadInput =
  | string[]
  | (Omit<MarkMessagesAsReadArgs, "conversationId"> & { conversationId?: string })
  | EventLike
  | null
  | undefined;

/** What updateTyping takes: a boolean, or the API document's `{ conversationId, isTyping }`. */
export type UpdateTypingInput = boolean | (Omit<UpdateTypingStatusArgs, "conversationId"> & { conversationId?: string });

export class NoConversationError extends Error {
  constructor() {
    super("useChat: no conversation");
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function isEventLike(v: unknown): boolean {
  return typeof v === "object" && v !== null && typeof (v as { preventDefault?: unknown }).preventDefault === "function";
}

function conversationOf(own: string | undefined, given: unknown, fn: string): string {
  if (given !== undefined && given !== null) {
    if (typeof given !== "string" || given === "") {
      throw new TypeError(`useChat ${fn}: conversationId must be a non-empty string`);
    }
    return given;
  }
  if (!own) throw new NoConversationError();
  return own;
}

function stringArray(v: unknown, fn: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
    throw new TypeError(`useChat ${fn}: messageIds must be an array of message id strings`);
  }
  return v;
}

/** markMessagesAsRead's arguments for markAsRead(input) in conversation own. */
export function markReadArgs(own: string | undefined, input: unknown): MarkMessagesAsReadArgs {
  if (input === undefined || input === null || (isEventLike(input) && !Array.isArray(input))) {
    return { conversationId: conversationOf(own, undefined, "markAsRead") };
  }
  if (Array.isArray(input)) {
    return { conversationId: conversationOf(own, undefined, "markAsRead"), messageIds: stringArray(input, "markAsRead") };
  }
  if (isPlainObject(input)) {
    const conversationId = conversationOf(own, input.conversationId, "markAsRead");
    const ids = input.messageIds;
    return ids === undefined || ids === null ? { conversationId } : { conversationId, messageIds: stringArray(ids, "markAsRead") };
  }
  throw new TypeError(
    "useChat markAsRead: pass nothing (every unread message), an array of message ids, or { conversationId?, messageIds? }",
  );
}

/** updateTypingStatus's arguments for updateTyping(input) in conversation own. */
export function typingArgs(own: string | undefined, input: unknown): UpdateTypingStatusArgs {
  if (typeof input === "boolean") {
    return { conversationId: conversationOf(own, undefined, "updateTyping"), isTyping: input };
  }
  if (isPlainObject(input) && typeof input.isTyping === "boolean") {
    return { conversationId: conversationOf(own, input.conversationId, "updateTyping"), isTyping: input.isTyping };
  }
  throw new TypeError("useChat updateTyping: pass a boolean, or { conversationId?, isTyping: boolean }");
}

/** sendMessage's arguments for sendMessage(input) in conversation own. */
export function sendArgs(own: string | undefined, input: unknown): SendMessageArgs {
  if (typeof input === "string") {
    return { conversationId: conversationOf(own, undefined, "sendMessage"), content: input, messageType: "text" };
  }
  if (isPlainObject(input)) {
    return { ...(input as Omit<SendMessageArgs, "conversationId">), conversationId: conversationOf(own, input.conversationId, "sendMessage") };
  }
  throw new TypeError("useChat sendMessage: pass the text, or sendMessage's arguments ({ content, messageType, … })");
}

/**
 * The caller's unread messages in conversation: the other side's unread
 * ones. Customers count unreadCountCustomer, store staff
 * unreadCountRecipient, admins unreadCountRecipient in a customer's
 * conversation and unreadCountCustomer in a store's thread with support
 * (as the server keeps them). Undefined when either is unknown.
 */
export function unreadCountFor(
  conversation: ConversationDoc | undefined,
  identity: TokenIdentity | undefined,
): number | undefined {
  if (!conversation || !identity) return undefined;
  // A guest is a customer without an account: the customer side's count.
  const customerColumn =
    identity.role === "customer" || identity.role === "guest" || (identity.role === "admin" && conversation.conversationType === "store_to_admin");
  return customerColumn ? conversation.unreadCountCustomer : conversation.unreadCountRecipient;
}

/** run(build()), with build's exception as a rejected promise (the calls of useChat never throw synchronously). */
export function attempt<T, R>(build: () => T, run: (args: T) => Promise<R>): Promise<R> {
  let args: T;
  try {
    args = build();
  } catch (e) {
    return Promise.reject(e);
  }
  return run(args);
}
