import { api, type ConversationDoc } from "@parley/client";
import { usePaginatedQuery, useQuery } from "@parley/client/react";
import { useState, type ReactNode } from "react";
import type { DemoIdentity, Identity } from "./auth";
import { Avatar } from "./avatar";
import { ErrorBoundary } from "./ErrorBoundary";
import { orderLabel, shortTime } from "./format";
import { conversationPath, Link, useRouter } from "./router";

type Status = "active" | "archived" | "closed";
type Kind = "customer_to_store" | "customer_to_admin" | "store_to_admin";

/** The kinds a caller's list holds, as its filter offers them (a customer's: stores and support; a store's: customers and support; support's: customers and stores). */
const kindsOf: Record<Identity["role"], [Kind, string][]> = {
  customer: [
    ["customer_to_store", "Stores"],
    ["customer_to_admin", "Support"],
  ],
  store: [
    ["customer_to_store", "Customers"],
    ["store_to_admin", "Support"],
  ],
  admin: [
    ["customer_to_admin", "Customers"],
    ["store_to_admin", "Stores"],
  ],
};

/** Conversations per page of the list; "Load more" fetches as many again. */
const pageSize = 25;

/**
 * The unread count of c for the caller: a customer's is unreadCountCustomer, a store's staff's
 * unreadCountRecipient (in its threads with support too), support's unreadCountRecipient in a
 * customer's conversation and unreadCountCustomer in a store's.
 */
export function myUnread(c: ConversationDoc, me: Identity): number {
  const customerColumn = me.role === "customer" || (me.role === "admin" && c.conversationType === "store_to_admin");
  return customerColumn ? c.unreadCountCustomer : c.unreadCountRecipient;
}

/** Whether c is with support: a customer's, or a store's. */
export function isSupport(c: ConversationDoc): boolean {
  return c.conversationType === "customer_to_admin" || c.conversationType === "store_to_admin";
}

/**
 * Whose avatar a conversation shows as the caller sees it: the other person
 * of a direct channel, the group itself, the store, the customer, or support
 * (one key for all of support). The colour follows this id alone.
 */
export function avatarId(c: ConversationDoc, me: Identity): string {
  if (c.conversationType === "direct") return (c.participants ?? []).find((p) => p.userId !== me.sub)?.userId ?? c._id;
  if (c.conversationType === "group") return c._id;
  const supportSide = c.conversationType === "customer_to_admin" || c.conversationType === "store_to_admin";
  if (me.role === "customer") return supportSide ? "parley-support" : (c.storeId ?? c._id);
  if (me.role === "store") return c.conversationType === "store_to_admin" ? "parley-support" : c.customerId;
  return c.conversationType === "store_to_admin" ? (c.storeId ?? c._id) : c.customerId;
}

/** The name of a conversation as the caller sees it. */
export function conversationTitle(c: ConversationDoc, me: Identity): string {
  if (c.conversationType === "direct") {
    return (c.participants ?? []).find((p) => p.userId !== me.sub)?.name ?? "Direct message";
  }
  if (c.conversationType === "group") {
    const others = (c.participants ?? []).filter((p) => p.userId !== me.sub).map((p) => p.name);
    return c.title ?? (others.join(", ") || "Group");
  }
  if (c.conversationType === "store_to_admin") {
    return me.role === "store" ? "Parley Support" : (c.storeName ?? c.storeId ?? "Store");
  }
  if (me.role === "customer") {
    return c.conversationType === "customer_to_admin" ? "Parley Support" : (c.storeName ?? "Store");
  }
  return c.customerName || c.customerId;
}

export function ConversationList({ me, demo }: { me: Identity; demo: DemoIdentity[] | null }) {
  const [status, setStatus] = useState<Status>("active");
  const [kind, setKind] = useState<Kind | "all">("all");
  const [unreadOnly, setUnreadOnly] = useState(false);
  const filtered = kind !== "all" || unreadOnly;
  const args = { status, ...(kind !== "all" && { kind }), ...(unreadOnly && { unreadOnly }) };
  const pages = usePaginatedQuery(api.shared.chat.getConversationsPaginated, args, { initialNumItems: pageSize });
  const conversations = pages.results;
  const { route } = useRouter();
  const current = route.page === "conversation" ? route.conversationId : null;

  return (
    <section className="conversations" aria-label="Conversations">
      <div className="tabs" role="tablist">
        {(["active", "archived", "closed"] as const).map((s) => (
          <button key={s} role="tab" aria-selected={status === s} className={status === s ? "tab on" : "tab"} onClick={() => setStatus(s)}>
            {s[0]!.toUpperCase() + s.slice(1)}
          </button>
        ))}
      </div>
      <div className="inbox-filters small">
        <select aria-label="Kind" data-testid="kind-filter" value={kind} onChange={(e) => setKind(e.target.value as Kind | "all")}>
          <option value="all">All conversations</option>
          {kindsOf[me.role].map(([k, label]) => (
            <option key={k} value={k}>
              {label}
            </option>
          ))}
        </select>
        <label>
          <input type="checkbox" data-testid="unread-only" checked={unreadOnly} onChange={(e) => setUnreadOnly(e.target.checked)} /> Unread
          only
        </label>
      </div>
      {pages.status === "LoadingFirstPage" ? (
        <ul className="conv-list" aria-busy>
          {[0, 1, 2].map((i) => (
            <li key={i} className="conv skeleton" />
          ))}
        </ul>
      ) : conversations.length === 0 ? (
        <p className="empty small muted" data-testid="no-conversations">
          {filtered ? "No conversations match." : status === "active" ? emptyText(me) : `No ${status} conversations.`}
        </p>
      ) : (
        <ul className="conv-list" data-testid="conversation-list">
          {conversations.map((c) => {
            const unread = myUnread(c, me);
            return (
              <li key={c._id}>
                <InboxItem
                  c={c}
                  me={me}
                  current={c._id === current}
                  unread={unread}
                  testId="conversation"
                  avatar={
                    c.conversationType === "store_to_admin"
                      ? me.role === "store"
                        ? "role-admin"
                        : "role-store"
                      : c.conversationType === "customer_to_admin"
                        ? "role-admin"
                        : "role-store"
                  }
                  sub={
                    <>
                      {c.conversationType === "store_to_admin" ? "Store support" : ""}
                      {c.conversationType === "store_to_admin" && c.orderId ? " · " : ""}
                      {me.role !== "customer" && c.storeName && c.conversationType === "customer_to_store" ? `${c.storeName} · ` : ""}
                      {c.orderId ? <OrderLine c={c} /> : c.conversationType === "customer_to_admin" ? "Support" : ""}
                      {c.isBlocked ? " · Blocked" : ""}
                      {me.role === "admin" && isSupport(c)
                        ? c.assignedAdminId
                          ? ` · ${c.assignedAdminId === me.sub ? "assigned to you" : `assigned to ${demo?.find((d) => d.sub === c.assignedAdminId)?.name ?? c.assignedAdminId}`}`
                          : " · unassigned"
                        : ""}
                    </>
                  }
                />
              </li>
            );
          })}
        </ul>
      )}
      {(pages.status === "CanLoadMore" || pages.status === "LoadingMore") && (
        <button
          className="link load-more small"
          data-testid="load-more"
          disabled={pages.status === "LoadingMore"}
          onClick={() => pages.loadMore(pageSize)}
        >
          {pages.status === "LoadingMore" ? "Loading…" : "Load more"}
        </button>
      )}
    </section>
  );
}

/**
 * The order a listed conversation is about, as a person recognises it (its
 * date, total and status). A list's rows carry the order's id only; the
 * summary comes from getConversation, and until it arrives, or when it
 * cannot, the row shows a short reference.
 */
function OrderLine({ c }: { c: ConversationDoc }) {
  const plain = <span data-testid="order-label">{orderLabel({ summary: c.orderSummary, orderId: c.orderId })}</span>;
  if (c.orderSummary) return plain;
  return (
    <ErrorBoundary fallback={() => plain}>
      <FetchedOrderLine c={c} />
    </ErrorBoundary>
  );
}

function FetchedOrderLine({ c }: { c: ConversationDoc }) {
  const detail = useQuery(api.shared.chat.getConversation, { conversationId: c._id });
  return (
    <span data-testid="order-label" data-loaded={String(detail !== undefined)}>
      {orderLabel({ summary: detail?.orderSummary, orderId: c.orderId })}
    </span>
  );
}

/** One conversation of a list (one-to-one or group): who, when, the latest message, the caller's unread count. */
export function InboxItem(props: {
  c: ConversationDoc;
  me: Identity;
  current: boolean;
  unread: number;
  testId: string;
  avatar: string;
  sub: ReactNode;
}) {
  const { c, me, current, unread, testId, avatar, sub } = props;
  return (
    <Link
      to={conversationPath(c._id)}
      className={`conv ${current ? "current" : ""} ${unread > 0 ? "unread" : ""}`}
      data-testid={testId}
      data-conversation-id={c._id}
    >
      <Avatar id={avatarId(c, me)} name={conversationTitle(c, me)} className={avatar} />
      <span className="conv-text">
        <span className="conv-top">
          <strong className="conv-title">{conversationTitle(c, me)}</strong>
          {c.customerIsGuest && (
            <span className="tag guest" data-testid="guest-badge" title="A visitor without an account, from the support widget">
              Guest
            </span>
          )}
          <span className="muted small">{shortTime(c.lastMessageAt ?? c._creationTime)}</span>
        </span>
        <span className="conv-sub muted small">{sub}</span>
        <span className="conv-preview">
          <span className="preview" data-testid="preview">
            {c.lastMessagePreview || <em className="muted">No messages yet</em>}
          </span>
          {unread > 0 && (
            <span className="badge" data-testid="unread-badge">
              {unread}
            </span>
          )}
        </span>
      </span>
    </Link>
  );
}

function emptyText(me: Identity): string {
  switch (me.role) {
    case "customer":
      return "No conversations yet. Start one above.";
    case "store":
      return "No customer has written to your store yet.";
    case "admin":
      return "No support conversations. All quiet.";
  }
}
