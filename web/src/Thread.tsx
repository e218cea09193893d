import { api, type ConversationDoc, type MessageDoc } from "@parley/client";
import { useChat, useMutation, usePaginatedQuery, useParleyClient, useQuery } from "@parley/client/react";
import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import type { DemoIdentity, Identity } from "./auth";
import { conversationTitle, isSupport, myUnread } from "./ConversationList";
import { bytes, errorMessage, orderLabel, shortTime } from "./format";
import { History, MeetingCard, MeetingForm } from "./MessageParts";
import { useOutbox, type OutboxItem } from "./outbox";
import { Link } from "./router";
import { AiBadge, AssistantBody, assistantAttrs, CustomerSupportBar } from "./Assistant";

/** How many messages a page of history holds. */
const pageSize = 30;

/** Whether me speaks in c (sends, types, marks read); admins only moderate store conversations. */
function isParticipant(me: Identity, c: ConversationDoc): boolean {
  if (c.conversationType === "group" || c.conversationType === "direct") return (c.participants ?? []).some((p) => p.userId === me.sub);
  switch (me.role) {
    case "customer":
      return c.customerId === me.sub;
    case "store":
      return (c.conversationType === "customer_to_store" || c.conversationType === "store_to_admin") && c.storeId === me.store_id;
    case "admin":
      return isSupport(c);
  }
}

/**
 * A conversation: its header, messages and composer. In the support desk
 * (desk), whose own actions transfer and close through the queue, the
 * header leaves out the inbox's Transfer and Close.
 */
export function Thread({ conversationId, me, demo, desk = false }: { conversationId: string; me: Identity; demo: DemoIdentity[] | null; desk?: boolean }) {
  const conv = useQuery(api.shared.chat.getConversation, { conversationId });
  // useChat brings typing (debounced on keystrokes), the typing indicators
  // and markAsRead; the message list itself is paginated below, so useChat
  // subscribes to no messages of its own.
  const chat = useChat(conversationId, { messages: false });
  const history = usePaginatedQuery(api.shared.chat.getMessagesPaginated, { conversationId }, { initialNumItems: pageSize });
  const participant = conv ? isParticipant(me, conv) : false;
  // Delivery receipts: what this client has received is acknowledged.
  const client = useParleyClient();
  const received = history.results;
  useEffect(() => {
    if (participant) void client.acknowledgeDelivery(conversationId, received);
  }, [client, conversationId, participant, received]);
  // A group's detail has no per-member count: any new message there is
  // marked read (the server reports what it covered).
  const group = conv?.conversationType === "group" || conv?.conversationType === "direct";
  const unread = conv ? (group ? (conv.lastMessageAt ?? 0) : myUnread(conv, me)) : 0;

  // Read receipts: whatever arrives while the thread is open and the page
  // visible is read.
  const { markAsRead } = chat;
  useEffect(() => {
    if (!participant || unread === 0) return undefined;
    const mark = () => {
      if (document.visibilityState !== "hidden") markAsRead().catch(() => {});
    };
    mark();
    document.addEventListener("visibilitychange", mark);
    window.addEventListener("focus", mark);
    return () => {
      document.removeEventListener("visibilitychange", mark);
      window.removeEventListener("focus", mark);
    };
  }, [participant, unread, markAsRead]);

  if (conv === undefined) {
    return <div className="thread loading muted">Loading conversation…</div>;
  }
  return (
    <section className="thread" data-testid="thread" data-conversation-id={conversationId}>
      <ThreadHeader conv={conv} me={me} demo={demo} desk={desk} />
      <MessageList conv={conv} me={me} history={history} />
      <TypingLine names={(chat.typingIndicators ?? []).map((t) => t.userName)} />
      {me.role === "customer" && conv.conversationType === "customer_to_admin" && conv.customerId === me.sub && (
        <CustomerSupportBar conversationId={conversationId} />
      )}
      <Composer conv={conv} me={me} participant={participant} chat={chat} />
    </section>
  );
}

/** Who takes part, each with an online dot and when they were last seen. */
function Participants({ conversationId, me }: { conversationId: string; me: Identity }) {
  const people = useQuery(api.shared.chat.getParticipants, { conversationId });
  if (!people || people.length === 0) return null;
  return (
    <ul className="participants small" data-testid="participants">
      {people.map((p) => (
        <li key={p.userId} data-testid="participant" data-user-id={p.userId} data-online={String(p.isOnline)}>
          <span className={`dot ${p.isOnline ? "online" : "offline"}`} aria-hidden="true" />
          {p.userId === me.sub ? "You" : p.name}
          <span className="muted">{p.isOnline ? " · online" : p.lastSeenAt ? ` · seen ${shortTime(p.lastSeenAt)}` : ""}</span>
        </li>
      ))}
    </ul>
  );
}

function ThreadHeader({ conv, me, demo, desk }: { conv: ConversationDoc; me: Identity; demo: DemoIdentity[] | null; desk: boolean }) {
  const archive = useMutation(api.shared.chat.archiveConversation);
  const block = useMutation(api.shared.chat.blockConversation);
  const unblock = useMutation(api.shared.chat.unblockConversation);
  const close = useMutation(api.shared.chat.closeConversation);
  const reopen = useMutation(api.shared.chat.reopenConversation);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const act = async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await f();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };
  const support = isSupport(conv);
  const storeSupport = conv.conversationType === "store_to_admin";
  const canModerate = me.role === "admin" && support;
  const canArchive = conv.status === "active" && (me.role === "admin" || isParticipant(me, conv));
  // Admins close any conversation; a store's staff close their store's, a
  // group's creator the group.
  const group = conv.conversationType === "group";
  const direct = conv.conversationType === "direct";
  const canClose =
    me.role === "admin" ||
    (direct ? isParticipant(me, conv) : group ? conv.createdBy === me.sub : me.role === "store" && (!support || storeSupport));
  const closed = conv.status === "closed";

  return (
    <header className="thread-header">
      {!desk && (
        // Shown on narrow screens only, where the list and the thread take turns.
        <Link to="/" className="thread-back" data-testid="thread-back">
          <span aria-hidden>←</span> Back
        </Link>
      )}
      <div className="thread-title">
        <h2 data-testid="thread-title">{conversationTitle(conv, me)}</h2>
        <Subject conv={conv} editable={me.role === "admin" || isParticipant(me, conv)} />
        <div className="muted small">
          {direct ? (
            <span data-testid="direct-members">Direct message · {conv.channelKey}</span>
          ) : group ? (
            <span data-testid="group-members">
              Group · {(conv.participants ?? []).map((p) => (p.userId === me.sub ? "you" : p.name)).join(", ")}
            </span>
          ) : storeSupport ? (
            <span data-testid="store-support">Store support · {conv.storeName ?? conv.storeId}</span>
          ) : support ? (
            "Support conversation"
          ) : (
            `${conv.storeName ?? "Store"} · ${conv.customerName}`
          )}
          {conv.orderId && (
            <>
              {" · "}
              <span data-testid="thread-order">{orderLabel({ summary: conv.orderSummary, orderId: conv.orderId })}</span>
            </>
          )}
        </div>
        <Participants conversationId={conv._id} me={me} />
        <div className="tags">
          {conv.status !== "active" && <span className="tag">{conv.status}</span>}
          {conv.isBlocked && (
            <span className="tag danger" data-testid="blocked-tag">
              blocked
            </span>
          )}
          {support && me.role === "admin" && (
            <span className="tag">{conv.assignedAdminId ? `assigned: ${adminName(conv.assignedAdminId, demo)}` : "unassigned"}</span>
          )}
        </div>
      </div>
      <div className="thread-actions">
        {canModerate && !desk && <Transfer conv={conv} me={me} demo={demo} busy={busy} act={act} />}
        {canModerate && (
          <button
            disabled={busy}
            data-testid={conv.isBlocked ? "unblock" : "block"}
            onClick={() =>
              void act(() =>
                (conv.isBlocked ? unblock : block)({
                  conversationId: conv._id,
                }),
              )
            }
          >
            {conv.isBlocked ? "Unblock" : "Block"}
          </button>
        )}
        {canClose && !desk && (
          <button
            disabled={busy}
            data-testid={closed ? "reopen" : "close"}
            onClick={() => void act(() => (closed ? reopen : close)({ conversationId: conv._id }))}
          >
            {closed ? "Reopen" : "Close"}
          </button>
        )}
        {canArchive && (
          <button disabled={busy} data-testid="archive" onClick={() => void act(() => archive({ conversationId: conv._id }))}>
            Archive
          </button>
        )}
      </div>
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
    </header>
  );
}

function adminName(id: string, demo: DemoIdentity[] | null): string {
  return demo?.find((d) => d.sub === id)?.name ?? id;
}

function Transfer({
  conv,
  me,
  demo,
  busy,
  act,
}: {
  conv: ConversationDoc;
  me: Identity;
  demo: DemoIdentity[] | null;
  busy: boolean;
  act: (f: () => Promise<unknown>) => Promise<void>;
}) {
  const transfer = useMutation(api.shared.chat.transferConversation);
  const admins = (demo ?? []).filter((d) => d.role === "admin");
  const open = admins.filter((a) => a.sub !== conv.assignedAdminId);
  const [to, setTo] = useState("");
  const target = demo ? (open.some((a) => a.sub === to) ? to : (open[0]?.sub ?? "")) : to.trim();
  return (
    <span className="transfer">
      {demo ? (
        <select value={target} onChange={(e) => setTo(e.target.value)} aria-label="Transfer to" disabled={open.length === 0}>
          {admins.map((a) => (
            <option key={a.sub} value={a.sub} disabled={a.sub === conv.assignedAdminId}>
              {a.name ?? a.sub}
              {a.sub === me.sub ? " (you)" : ""}
              {a.sub === conv.assignedAdminId ? " (assigned)" : ""}
            </option>
          ))}
        </select>
      ) : (
        <input value={to} onChange={(e) => setTo(e.target.value)} placeholder="Admin id" aria-label="Transfer to admin id" />
      )}
      <button
        disabled={busy || !target}
        data-testid="transfer"
        onClick={() =>
          void act(async () => {
            await transfer({ conversationId: conv._id, toAdminId: target });
            setTo("");
          })
        }
      >
        Transfer
      </button>
    </span>
  );
}

type History = ReturnType<typeof usePaginatedQuery<typeof api.shared.chat.getMessagesPaginated>>;

function MessageList({ conv, me, history }: { conv: ConversationDoc; me: Identity; history: History }) {
  const { items, discard, retry } = useOutbox();
  const pending = items.filter((i) => i.conversationId === conv._id);
  const scroller = useRef<HTMLDivElement>(null);
  const edge = useRef<HTMLDivElement>(null);
  const { status, loadMore } = history;
  const statusRef = useRef(status);
  statusRef.current = status;

  // Infinite scroll up: when the top edge of the history comes into view,
  // the next page loads (and again, until the view is full or the
  // conversation's start is reached).
  useEffect(() => {
    const el = edge.current;
    if (!el || !scroller.current) return undefined;
    const io = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting) && statusRef.current === "CanLoadMore") loadMore(pageSize);
      },
      { root: scroller.current, rootMargin: "200px 0px 0px 0px" },
    );
    io.observe(el);
    return () => io.disconnect();
  }, [loadMore, status]);

  // A new message of one's own scrolls to the bottom (the list is
  // column-reverse: 0 is the bottom).
  useEffect(() => {
    if (pending.length > 0) scroller.current?.scrollTo({ top: 0 });
  }, [pending.length]);

  if (status === "LoadingFirstPage") {
    return <div className="messages loading muted">Loading messages…</div>;
  }
  const messages = history.results;
  return (
    <div className="messages" ref={scroller} data-testid="messages">
      {[...pending].reverse().map((p) => (
        <PendingBubble key={p.localId} item={p} onRetry={() => retry(p.localId)} onDiscard={() => discard(p.localId)} />
      ))}
      {messages.map((m) => (
        <Message key={m._id} m={m} me={me} conv={conv} />
      ))}
      {messages.length === 0 && pending.length === 0 && (
        <div className="empty muted" data-testid="no-messages">
          No messages yet. Say hello!
        </div>
      )}
      <div ref={edge} className="history-edge muted small" data-testid="history-edge" data-status={status}>
        {status === "LoadingMore"
          ? "Loading older messages…"
          : status === "Exhausted" && messages.length > 0
            ? "Beginning of the conversation"
            : ""}
      </div>
    </div>
  );
}

const receiptLabels = { sent: "✓ Sent", delivered: "✓✓ Delivered", read: "✓✓ Read" } as const;

/** A message's delivery state; in a group, whom it reached and who read it. */
function Receipt({ m, conv }: { m: MessageDoc; conv: ConversationDoc }) {
  const status = m.status ?? "sent";
  let title = status === "read" && m.readAt ? `Read ${shortTime(m.readAt)}` : receiptLabels[status].replace(/^✓+ /, "");
  const name = (id: string) => conv.participants?.find((p) => p.userId === id)?.name ?? id;
  if (conv.conversationType === "group") {
    title = `Delivered to: ${(m.deliveredTo ?? []).map(name).join(", ") || "nobody yet"} · Read by: ${(m.readBy ?? []).map(name).join(", ") || "nobody yet"}`;
  }
  if (m.receipts) {
    // A group's or direct channel's message: when it reached each of the others, and when they read it.
    return (
      <details className={`receipt ${status}`} data-testid="receipt" data-status={status}>
        <summary title={title}>{receiptLabels[status]}</summary>
        <ul className="receipt-info small" data-testid="receipt-info">
          {m.receipts.map((r) => (
            <li key={r.userId} data-testid="receipt-of" data-user-id={r.userId}>
              {name(r.userId)}:{" "}
              {r.readAt ? `read ${shortTime(r.readAt)}` : r.deliveredAt ? `delivered ${shortTime(r.deliveredAt)}` : "not yet delivered"}
            </li>
          ))}
        </ul>
      </details>
    );
  }
  return (
    <span className={`receipt ${status}`} data-testid="receipt" data-status={status} title={title}>
      {receiptLabels[status]}
    </span>
  );
}

/** Message types whose content (a text, or a caption) may be edited. */
const editableTypes = new Set(["text", "image", "location", "meeting"]);

function Message({ m, me, conv }: { m: MessageDoc; me: Identity; conv: ConversationDoc }) {
  const del = useMutation(api.shared.chat.deleteMessage);
  const editMessage = useMutation(api.shared.chat.editMessage);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [showHistory, setShowHistory] = useState(false);
  const mine = m.senderId === me.sub;
  const canDelete = !m.isDeleted && (mine || me.role === "admin");
  // The server holds the edit window (15 minutes unless configured) and
  // says so when an edit comes too late.
  const canEdit = mine && !m.isDeleted && editableTypes.has(m.messageType) && conv.status !== "closed" && !conv.isBlocked;
  const remove = () => del({ messageId: m._id }).catch((e) => setError(errorMessage(e)));
  const save = async (e?: FormEvent) => {
    e?.preventDefault();
    if (editing === null) return;
    setError(null);
    try {
      await editMessage({ messageId: m._id, content: editing });
      setEditing(null);
    } catch (err) {
      setError(errorMessage(err));
    }
  };

  if (m.messageType === "system" || m.messageType === "transfer") {
    return (
      <div className={`notice ${m.messageType}`} data-testid="notice" data-message-id={m._id}>
        <span>{m.isDeleted ? "Notice deleted" : m.content}</span>
        <span className="muted small"> · {shortTime(m._creationTime)}</span>
        {canDelete && me.role === "admin" && (
          <button className="link small" onClick={() => void remove()} title="Delete notice">
            Delete
          </button>
        )}
      </div>
    );
  }
  const img = m.imageAttachment;
  const loc = m.location;
  const ai = m.senderType === "assistant";
  return (
    <div
      className={`msg ${mine ? "mine" : "theirs"} ${m.isDeleted ? "deleted" : ""} ${ai ? "assistant" : ""}`}
      data-testid="message"
      data-message-id={m._id}
      {...assistantAttrs(m)}
    >
      {!mine && (
        <div className="sender small" data-testid="sender">
          {m.senderName}
          {ai && <> <AiBadge /></>}
          {conv.conversationType === "customer_to_store" && m.senderType === "admin" ? " (Parley)" : ""}
        </div>
      )}
      {m.isDeleted ? (
        <div className="text muted">
          <em>Message deleted</em>
        </div>
      ) : (
        <>
          {loc && (
            <a
              className="location"
              data-testid="location"
              target="_blank"
              rel="noreferrer"
              href={`https://www.openstreetmap.org/?mlat=${loc.lat}&mlon=${loc.lng}#map=17/${loc.lat}/${loc.lng}`}
            >
              <span aria-hidden>📍</span> {loc.label ?? "Location"}{" "}
              <span className="muted small">
                ({loc.lat.toFixed(5)}, {loc.lng.toFixed(5)})
              </span>
            </a>
          )}
          {img && (
            <a href={img.url} target="_blank" rel="noreferrer" className="image-link">
              <img
                src={img.thumbnailUrl ?? img.url}
                width={img.thumbnailWidth || undefined}
                height={img.thumbnailHeight || undefined}
                alt={img.fileName || "Image"}
                data-testid="thumbnail"
                loading="lazy"
              />
            </a>
          )}
          {m.meeting && <MeetingCard meeting={m.meeting} />}
          {editing !== null ? (
            <form className="edit-form" onSubmit={(e) => void save(e)}>
              <textarea
                value={editing}
                onChange={(e) => setEditing(e.target.value)}
                onKeyDown={(e) => {
                  if (e.key === "Enter" && !e.shiftKey) void save();
                  if (e.key === "Escape") setEditing(null);
                }}
                aria-label="Edit message"
                data-testid="edit-input"
                autoFocus
              />
              <div className="row small">
                <button type="submit" className="primary" data-testid="edit-save">
                  Save
                </button>
                <button type="button" className="link" onClick={() => setEditing(null)}>
                  Cancel
                </button>
              </div>
            </form>
          ) : ai ? (
            <AssistantBody m={m} />
          ) : (
            m.content && <div className="text">{m.content}</div>
          )}
          {showHistory && <History messageId={m._id} />}
        </>
      )}
      <div className="meta small">
        <span>{shortTime(m._creationTime)}</span>
        {m.editedAt !== undefined && !m.isDeleted && (
          <button
            className="link small edited"
            data-testid="edited"
            title={`Edited ${shortTime(m.editedAt)}: show the versions`}
            onClick={() => setShowHistory((v) => !v)}
          >
            edited
          </button>
        )}
        {mine && m.status && <Receipt m={m} conv={conv} />}
        {canEdit && editing === null && (
          <button className="link small" onClick={() => setEditing(m.content)} data-testid="edit-message">
            Edit
          </button>
        )}
        {canDelete && (
          <button className="link small delete" onClick={() => void remove()} data-testid="delete-message">
            Delete
          </button>
        )}
      </div>
      {error && <div className="error small">{error}</div>}
    </div>
  );
}

function PendingBubble({ item, onRetry, onDiscard }: { item: OutboxItem; onRetry: () => void; onDiscard: () => void }) {
  const failed = item.status === "failed";
  return (
    <div className={`msg mine pending ${failed ? "failed" : ""} ${item.kind}`} data-testid="pending" data-status={item.status}>
      {item.previewUrl && (
        <div className="image-preview">
          <img
            src={item.previewUrl}
            alt=""
            onError={(e) => {
              e.currentTarget.style.display = "none"; // not an image: the error below says so
            }}
          />
          {!failed && item.progress !== undefined && item.progress < 1 && (
            <progress value={item.progress} max={1} data-testid="upload-progress" />
          )}
        </div>
      )}
      {item.content && <div className="text">{item.kind === "system" ? `System notice: ${item.content}` : item.content}</div>}
      <div className="meta small">
        {failed ? (
          <>
            <span className="error" role="alert">
              Not sent: {item.error}
            </span>
            <button className="link small" onClick={onRetry} data-testid="retry">
              Retry
            </button>
            <button className="link small" onClick={onDiscard}>
              Discard
            </button>
          </>
        ) : (
          <span className="sending">{item.kind === "image" && (item.progress ?? 0) < 1 ? "Uploading…" : "Sending…"}</span>
        )}
      </div>
    </div>
  );
}

function TypingLine({ names }: { names: string[] }) {
  return (
    <div className="typing-line small muted" aria-live="polite">
      {names.length > 0 && (
        <span data-testid="typing">
          <span className="dots" aria-hidden>
            <i />
            <i />
            <i />
          </span>{" "}
          {names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`}
        </span>
      )}
    </div>
  );
}

function Composer({
  conv,
  me,
  participant,
  chat,
}: {
  conv: ConversationDoc;
  me: Identity;
  participant: boolean;
  chat: ReturnType<typeof useChat>;
}) {
  const settings = useQuery(api.shared.chat.getChatSettings, {});
  const outbox = useOutbox();
  const [text, setText] = useState("");
  const [system, setSystem] = useState(false);
  const [scheduling, setScheduling] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  // The image picked and not yet sent: previewed with a caption until Send or Cancel.
  const [draft, setDraft] = useState<{ file: File; url: string } | null>(null);
  const [caption, setCaption] = useState("");
  useEffect(() => (draft ? () => URL.revokeObjectURL(draft.url) : undefined), [draft]);
  const admin = me.role === "admin";
  const status = useQuery(
    api.shared.chat.isChatEnabled,
    conv.conversationType === "customer_to_store" && conv.storeId ? { storeId: conv.storeId } : {},
  );

  if (!participant && !admin) return null;
  if (!admin && status?.enabled === false) {
    return (
      <div className="composer-note small" data-testid="composer-chat-off">
        Chat is disabled for now: you can read this conversation, not write in it.
      </div>
    );
  }
  if (!participant) {
    return (
      <div className="composer-note muted small">
        {conv.conversationType === "group"
          ? "Admins moderate groups they are not in: you can delete messages, not write here."
          : "Admins moderate store conversations: you can delete messages, not write here."}
      </div>
    );
  }
  const systemOnly = admin && (conv.isBlocked || conv.status === "closed");
  if (!admin && conv.isBlocked) {
    return (
      <div className="composer-note small" data-testid="composer-blocked">
        Support blocked this conversation: no new messages can be sent.
      </div>
    );
  }
  if (!admin && conv.status === "closed") {
    return (
      <div className="composer-note small" data-testid="composer-closed">
        This conversation is closed.
      </div>
    );
  }
  const asSystem = system || systemOnly;

  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    const content = text.trim();
    if (!content) return;
    outbox.sendText(conv._id, content, asSystem ? { system: true } : { send: (args) => chat.sendMessage(args) });
    setText("");
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      submit();
    }
  };
  // Picking an image sends nothing yet: it is previewed, with what was
  // typed so far as its caption, until Send or Cancel.
  const onFile = () => {
    const file = fileInput.current?.files?.[0];
    if (file) {
      if (!draft) setCaption(text.trim());
      setDraft({ file, url: URL.createObjectURL(file) });
    }
    if (fileInput.current) fileInput.current.value = "";
  };
  const sendDraft = () => {
    if (!draft) return;
    outbox.sendImage(conv._id, draft.file, caption.trim());
    if (text.trim() === caption.trim()) setText("");
    setDraft(null);
    setCaption("");
  };
  const cancelDraft = () => {
    setDraft(null);
    setCaption("");
  };

  return (
    <>
      {scheduling && <MeetingForm conversationId={conv._id} onDone={() => setScheduling(false)} />}
      {draft && !asSystem && (
        <ImageDraft
          file={draft.file}
          url={draft.url}
          caption={caption}
          maxMB={settings?.maxImageSizeMB}
          onCaption={setCaption}
          onSend={sendDraft}
          onCancel={cancelDraft}
        />
      )}
      <form className="composer" onSubmit={submit}>
        {!asSystem && (
          <button
            type="button"
            className="attach"
            title="Schedule a call"
            aria-pressed={scheduling}
            onClick={() => setScheduling((v) => !v)}
            data-testid="schedule-call"
          >
            <span aria-hidden>📅</span>
            <span className="sr-only">Schedule a call</span>
          </button>
        )}
        {!asSystem && (
          <label className="attach" title={`Send an image (up to ${settings?.maxImageSizeMB ?? 5} MB)`}>
            <input
              ref={fileInput}
              type="file"
              accept={(settings?.allowedImageTypes ?? ["image/*"]).join(",")}
              onChange={onFile}
              data-testid="file-input"
              hidden
            />
            <svg
              aria-hidden
              width="18"
              height="18"
              viewBox="0 0 24 24"
              fill="none"
              stroke="currentColor"
              strokeWidth="2"
              strokeLinecap="round"
              strokeLinejoin="round"
            >
              <path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48" />
            </svg>
            <span className="sr-only">Attach an image</span>
          </label>
        )}
        <textarea
          value={text}
          rows={1}
          onChange={(e) => {
            setText(e.target.value);
            if (!asSystem) chat.onInput();
          }}
          onBlur={() => chat.stopTyping()}
          onKeyDown={onKeyDown}
          placeholder={asSystem ? "System notice to both sides…" : "Write a message…"}
          aria-label="Message"
          data-testid="composer-input"
        />
        {admin && (
          <label className="system-toggle small" title="Post as a system notice (gets through blocks)">
            <input
              type="checkbox"
              checked={asSystem}
              disabled={systemOnly}
              onChange={(e) => setSystem(e.target.checked)}
              data-testid="system-toggle"
            />{" "}
            System notice
          </label>
        )}
        <button type="submit" className="primary" disabled={!text.trim()} data-testid="send">
          Send
        </button>
      </form>
    </>
  );
}

/** An image picked in the composer, before it is sent: its thumbnail, a caption, Send and Cancel. */
function ImageDraft(props: {
  file: File;
  url: string;
  caption: string;
  maxMB: number | undefined;
  onCaption: (c: string) => void;
  onSend: () => void;
  onCancel: () => void;
}) {
  const { file, url, caption, maxMB, onCaption, onSend, onCancel } = props;
  const [broken, setBroken] = useState(false);
  useEffect(() => setBroken(false), [url]);
  const tooBig = maxMB !== undefined && file.size > maxMB * 1024 * 1024;
  return (
    <form
      className="image-draft"
      data-testid="image-draft"
      aria-label="Image to send"
      onSubmit={(e) => {
        e.preventDefault();
        onSend();
      }}
      onKeyDown={(e) => {
        if (e.key === "Escape") onCancel();
      }}
    >
      <div className="image-draft-thumb">
        {broken ? (
          <span className="muted small">No preview</span>
        ) : (
          <img src={url} alt={`Preview of ${file.name}`} data-testid="image-draft-thumb" onError={() => setBroken(true)} />
        )}
      </div>
      <div className="image-draft-body">
        <div className="muted small image-draft-name">
          {file.name} · {bytes(file.size)}
          {tooBig && <span className="error"> · larger than {maxMB} MB</span>}
        </div>
        <input
          value={caption}
          onChange={(e) => onCaption(e.target.value)}
          placeholder="Add a caption…"
          aria-label="Caption"
          data-testid="image-caption"
          maxLength={4000}
          autoFocus
        />
        <div className="row small">
          <button type="submit" className="primary" data-testid="image-send">
            Send
          </button>
          <button type="button" onClick={onCancel} data-testid="image-cancel">
            Cancel
          </button>
        </div>
      </div>
    </form>
  );
}

/** A conversation's subject, which those who speak in it (and admins) may change. */
function Subject({ conv, editable }: { conv: ConversationDoc; editable: boolean }) {
  const setSubject = useMutation(api.shared.chat.setConversationSubject);
  const [draft, setDraft] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await setSubject({ conversationId: conv._id, subject: draft ?? "" });
      setDraft(null);
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  if (draft !== null) {
    return (
      <form className="row small subject-form" onSubmit={(e) => void save(e)}>
        <input
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          aria-label="Subject"
          data-testid="subject-input"
          maxLength={200}
          autoFocus
        />
        <button type="submit" className="primary" data-testid="subject-save">
          Save
        </button>
        <button type="button" className="link" onClick={() => setDraft(null)}>
          Cancel
        </button>
        {error && <span className="error">{error}</span>}
      </form>
    );
  }
  return (
    <div className="small subject">
      {conv.subject && <span data-testid="subject">{conv.subject}</span>}
      {editable && (
        <button className="link small" data-testid="subject-edit" onClick={() => setDraft(conv.subject ?? "")}>
          {conv.subject ? "Change subject" : "Add a subject"}
        </button>
      )}
    </div>
  );
}
