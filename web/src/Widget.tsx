// The support widget (/widget): a page a shop embeds (an <iframe>) so a
// visitor without an account can chat with support. It asks the server
// for a guest token (POST /api/guest, rate limited per address), opens
// the guest's support conversation and chats live. When the visitor signs
// in, the widget hands the guest's conversations to the account
// (claimGuestThreads, with the guest token as proof) and goes on in the
// same thread as the customer. The guest is kept in localStorage (the
// visitor's thread survives reloads until the token expires); ?name= and
// ?org= in the URL preset the guest's name and organization.
import {
  api,
  createParleyClient,
  requestGuestToken,
  type ClaimResult,
  type GuestToken,
  type MessageDoc,
  type ParleyClient,
} from "@parley/client";
import { ParleyProvider, useChat, useConnectionState, useIdentity, useParleyClient } from "@parley/client/react";
import { useEffect, useState, type FormEvent, type KeyboardEvent, type ReactNode } from "react";
import { decodeToken, fetchIdentities, mintDevToken, saveSession, tokenFetcher, type DemoIdentity, type Session } from "./auth";
import { Avatar } from "./avatar";
import { ErrorBoundary } from "./ErrorBoundary";
import { errorMessage, shortTime } from "./format";
import { AiBadge, AssistantBody, assistantAttrs, CustomerSupportBar } from "./Assistant";

const guestKey = "parley.guest";
/** A guest token this close to its expiry is not used again. */
const expiryMarginMs = 60_000;

function loadGuest(): GuestToken | null {
  try {
    const raw = localStorage.getItem(guestKey);
    const g = raw ? (JSON.parse(raw) as GuestToken) : null;
    return g && g.expiresAt > Date.now() + expiryMarginMs ? g : null;
  } catch {
    return null;
  }
}

function saveGuest(g: GuestToken | null): void {
  try {
    if (g) localStorage.setItem(guestKey, JSON.stringify(g));
    else localStorage.removeItem(guestKey);
  } catch {
    // Storage may be off in a third-party frame: the guest lasts as long as the page.
  }
}

/** Who chats in the widget: a guest, or the customer it signed in as. */
type Chatter = { kind: "guest"; guest: GuestToken } | { kind: "customer"; session: Session; claimed: ClaimResult | null };

/** The token fetcher of a guest: its one token, which cannot be refreshed. */
function guestAuth(token: string): () => Promise<string> {
  return async () => token;
}

/** A key of a chatter: a new one gets a new client. */
function chatterKey(c: Chatter): string {
  if (c.kind === "guest") return `guest:${c.guest.guestId}`;
  return c.session.kind === "dev" ? `dev:${c.session.key}` : `token:${c.session.token}`;
}

export function Widget({ serverURL }: { serverURL: string }) {
  const params = new URLSearchParams(window.location.search);
  const [chatter, setChatter] = useState<Chatter | null>(() => {
    const g = loadGuest();
    return g ? { kind: "guest", guest: g } : null;
  });
  useEffect(() => {
    document.title = "Chat with support";
  }, []);

  if (!chatter) {
    return (
      <WidgetFrame>
        <StartChat
          serverURL={serverURL}
          presetName={params.get("name") ?? ""}
          org={params.get("org") ?? undefined}
          onStart={(guest) => {
            saveGuest(guest);
            setChatter({ kind: "guest", guest });
          }}
        />
      </WidgetFrame>
    );
  }
  const auth = chatter.kind === "guest" ? guestAuth(chatter.guest.token) : tokenFetcher(chatter.session);
  return (
    <WidgetClient key={chatterKey(chatter)} serverURL={serverURL} auth={auth}>
      <WidgetFrame status={<ConnectionDot />}>
        <ErrorBoundary fallback={(e, reset) => <WidgetError error={e} onRetry={reset} />}>
          <SupportChat
            serverURL={serverURL}
            chatter={chatter}
            onSignedIn={(next) => {
              saveGuest(null);
              saveSession(next.session); // the app at / is signed in too
              setChatter(next);
            }}
            onNewGuest={() => {
              saveGuest(null);
              setChatter(null);
            }}
          />
        </ErrorBoundary>
      </WidgetFrame>
    </WidgetClient>
  );
}

function WidgetFrame({ status, children }: { status?: ReactNode; children: ReactNode }) {
  return (
    <div className="widget" data-testid="widget">
      <header className="widget-header">
        <span className="logo" aria-hidden>
          ◆
        </span>
        <strong>Chat with support</strong>
        <span className="spacer" />
        {status}
      </header>
      {children}
    </div>
  );
}

function ConnectionDot() {
  const state = useConnectionState();
  const label = { connected: "Connected", connecting: "Connecting…", disconnected: "Offline" }[state];
  return (
    <span className={`conn conn-${state}`} data-testid="connection" data-state={state} title={label}>
      <span className="dot" /> {label}
    </span>
  );
}

/** One ParleyClient per chatter (the parent keys it), closed when the widget moves on. */
function WidgetClient({
  serverURL,
  auth,
  children,
}: {
  serverURL: string;
  auth: (args: { forceRefreshToken: boolean }) => Promise<string | null>;
  children: ReactNode;
}) {
  const [client, setClient] = useState<ParleyClient | null>(null);
  const [fetcher] = useState(() => auth);
  useEffect(() => {
    const c = createParleyClient({ url: serverURL, auth: fetcher });
    setClient(c);
    return () => {
      void c.close();
    };
  }, [serverURL, fetcher]);
  if (!client) return null;
  return <ParleyProvider client={client}>{children}</ParleyProvider>;
}

/** The visitor's first step: an optional name, then a guest token. */
function StartChat({
  serverURL,
  presetName,
  org,
  onStart,
}: {
  serverURL: string;
  presetName: string;
  org: string | undefined;
  onStart: (g: GuestToken) => void;
}) {
  const [name, setName] = useState(presetName);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const start = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const n = name.trim();
      onStart(await requestGuestToken(serverURL, { ...(n ? { name: n } : {}), ...(org ? { org } : {}) }));
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  };
  return (
    <form className="widget-start" onSubmit={(e) => void start(e)}>
      <p>Questions about an order, a delivery or the shop? Our support team answers here.</p>
      <label>
        Your name <span className="muted small">(optional)</span>
        <input data-testid="guest-name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} placeholder="Guest" />
      </label>
      <button type="submit" className="primary" data-testid="start-chat" disabled={busy}>
        {busy ? "Starting…" : "Start chat"}
      </button>
      {error && (
        <p className="error" role="alert" data-testid="widget-error">
          {error}
        </p>
      )}
    </form>
  );
}

/** The chatter's support conversation, opened (or found) once connected. */
function SupportChat({
  serverURL,
  chatter,
  onSignedIn,
  onNewGuest,
}: {
  serverURL: string;
  chatter: Chatter;
  onSignedIn: (c: Chatter & { kind: "customer" }) => void;
  onNewGuest: () => void;
}) {
  const client = useParleyClient();
  const [conversationId, setConversationId] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let cancelled = false;
    client.mutation(api.shared.chat.createOrGetConversation, {}).then(
      (ref) => {
        if (!cancelled) setConversationId(ref.conversationId);
      },
      (e: unknown) => {
        if (!cancelled) setError(e);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [client]);
  if (error) {
    return (
      <div className="widget-body">
        <p className="error" role="alert" data-testid="widget-error">
          {errorMessage(error)}
        </p>
        {chatter.kind === "guest" && <button onClick={onNewGuest}>Start over</button>}
      </div>
    );
  }
  if (!conversationId) return <div className="widget-body muted">Connecting to support…</div>;
  return (
    <>
      <WidgetThread conversationId={conversationId} />
      {chatter.kind === "guest" ? (
        <GuestSignIn serverURL={serverURL} guest={chatter.guest} onSignedIn={onSignedIn} />
      ) : (
        <p className="widget-note small muted" data-testid="signed-in-as">
          Signed in as {chatter.session.identity.name || chatter.session.identity.sub}
          {chatter.claimed && chatter.claimed.movedMessages > 0
            ? ` · your messages as a guest are kept (${chatter.claimed.movedMessages} moved)`
            : ""}
        </p>
      )}
    </>
  );
}

/** The live thread: messages, typing, composer; what arrives is read while the page is visible. */
function WidgetThread({ conversationId }: { conversationId: string }) {
  const chat = useChat(conversationId, { limit: 100 });
  const me = useIdentity();
  const [text, setText] = useState("");
  const [sendError, setSendError] = useState<string | null>(null);
  const { markAsRead, unreadCount } = chat;
  useEffect(() => {
    if (!unreadCount) return undefined;
    const mark = () => {
      if (document.visibilityState !== "hidden") markAsRead().catch(() => {});
    };
    mark();
    document.addEventListener("visibilitychange", mark);
    return () => document.removeEventListener("visibilitychange", mark);
  }, [unreadCount, markAsRead]);

  const send = async () => {
    const content = text.trim();
    if (!content) return;
    setText("");
    setSendError(null);
    try {
      await chat.sendMessage({ content, messageType: "text" });
    } catch (e) {
      setText(content);
      setSendError(errorMessage(e));
    }
  };
  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      void send();
    }
  };
  const messages = chat.messages ?? [];
  const typing = (chat.typingIndicators ?? []).map((t) => t.userName);
  return (
    <section className="thread widget-thread" data-testid="thread" data-conversation-id={conversationId}>
      <div className="messages" data-testid="messages">
        {chat.isLoading ? (
          <span className="muted">Loading…</span>
        ) : messages.length === 0 ? (
          <p className="muted empty" data-testid="widget-empty">
            Say hello: support sees your message at once.
          </p>
        ) : (
          messages.map((m) => <WidgetMessage key={m._id} m={m} mine={m.senderId === me?.subject} />)
        )}
      </div>
      <div className="typing-line small muted" data-testid="typing">
        {typing.length > 0 ? `${typing.join(", ")} ${typing.length === 1 ? "is" : "are"} typing…` : ""}
      </div>
      <CustomerSupportBar conversationId={conversationId} />
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <textarea
          data-testid="composer-input"
          aria-label="Message"
          placeholder="Write a message…"
          value={text}
          rows={1}
          onChange={(e) => {
            setText(e.target.value);
            chat.onInput();
          }}
          onBlur={chat.stopTyping}
          onKeyDown={onKey}
        />
        <button type="submit" className="primary" data-testid="composer-send" disabled={!text.trim()}>
          Send
        </button>
      </form>
      {sendError && (
        <p className="error widget-note" role="alert">
          {sendError}
        </p>
      )}
    </section>
  );
}

function WidgetMessage({ m, mine }: { m: MessageDoc; mine: boolean }) {
  const ai = m.senderType === "assistant";
  if (m.messageType === "system") {
    return (
      <div className="notice" data-testid="notice">
        {m.content}
      </div>
    );
  }
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
        </div>
      )}
      {ai && !m.isDeleted ? <AssistantBody m={m} /> : <div className="text">{m.isDeleted ? <em>Message deleted</em> : m.content}</div>}
      <div className="meta small">
        {m.editedAt ? <span>edited</span> : null}
        <span>{shortTime(m._creationTime)}</span>
        {mine && m.status ? (
          <span className={`receipt ${m.status}`} data-testid="receipt">
            {{ sent: "Sent", delivered: "Delivered", read: "Read" }[m.status]}
          </span>
        ) : null}
      </div>
    </div>
  );
}

/**
 * Signing in from the widget: a demo customer under `parley dev`, else a
 * pasted token. The guest's conversations are claimed for the account
 * before the widget switches to it.
 */
function GuestSignIn({
  serverURL,
  guest,
  onSignedIn,
}: {
  serverURL: string;
  guest: GuestToken;
  onSignedIn: (c: Chatter & { kind: "customer" }) => void;
}) {
  const [open, setOpen] = useState(false);
  const [customers, setCustomers] = useState<DemoIdentity[] | null | undefined>(undefined);
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!open || customers !== undefined) return;
    fetchIdentities().then(
      (ids) => setCustomers(ids ? ids.filter((i) => i.role === "customer") : null),
      () => setCustomers(null),
    );
  }, [open, customers]);

  const claimAs = async (session: Session, customerToken: string) => {
    setBusy(true);
    setError(null);
    const c = createParleyClient({ url: serverURL, auth: async () => customerToken });
    try {
      const claimed = await c.mutation(api.shared.chat.claimGuestThreads, { guestToken: guest.token });
      onSignedIn({ kind: "customer", session, claimed });
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    } finally {
      void c.close();
    }
  };
  const pickDemo = async (key: string) => {
    try {
      const { token: t, identity } = await mintDevToken(key);
      await claimAs({ kind: "dev", key, identity }, t);
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  const useToken = (e: FormEvent) => {
    e.preventDefault();
    try {
      const t = token.trim();
      const identity = decodeToken(t);
      if (identity.role !== "customer") throw new Error("Sign in with a customer's token to keep this conversation");
      void claimAs({ kind: "token", token: t, identity }, t);
    } catch (err) {
      setError(errorMessage(err));
    }
  };

  if (!open) {
    return (
      <p className="widget-note small">
        Chatting as <strong data-testid="guest-whoami">{guest.name}</strong> (guest).{" "}
        <button className="link" data-testid="widget-sign-in" onClick={() => setOpen(true)}>
          Sign in to keep this conversation
        </button>
      </p>
    );
  }
  return (
    <div className="widget-note widget-sign-in" data-testid="widget-sign-in-panel">
      <p className="small">Sign in: this conversation moves to your account, with every message.</p>
      {customers === undefined && <p className="muted small">Loading…</p>}
      {customers && customers.length > 0 && (
        <ul className="identities">
          {customers.map((id) => (
            <li key={id.key}>
              <button className="identity" data-testid={`widget-identity-${id.key}`} disabled={busy} onClick={() => void pickDemo(id.key)}>
                <Avatar id={id.sub} name={id.name ?? id.sub} className="role-customer" />
                <strong>{id.name ?? id.sub}</strong>
              </button>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={useToken}>
        <textarea
          value={token}
          onChange={(e) => setToken(e.target.value)}
          placeholder="A customer's token (JWT)"
          rows={2}
          aria-label="Token"
        />
        <button type="submit" className="primary" disabled={busy || !token.trim()}>
          Sign in
        </button>{" "}
        <button type="button" className="link" onClick={() => setOpen(false)}>
          Cancel
        </button>
      </form>
      {error && (
        <p className="error" role="alert" data-testid="widget-error">
          {error}
        </p>
      )}
    </div>
  );
}

function WidgetError({ error, onRetry }: { error: unknown; onRetry: () => void }) {
  return (
    <div className="widget-body" role="alert">
      <p className="error">Something went wrong: {errorMessage(error)}</p>
      <button onClick={onRetry}>Retry</button>
    </div>
  );
}
