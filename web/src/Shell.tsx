import { api } from "@parley/client";
import { useConnectionState, useParleyClient, useQuery, useStale } from "@parley/client/react";
import { useEffect, useState } from "react";
import { displayName, fetchIdentities, type DemoIdentity, type Session } from "./auth";
import { Avatar } from "./avatar";
import { ConversationList } from "./ConversationList";
import { ErrorBoundary } from "./ErrorBoundary";
import { DirectChannels } from "./Direct";
import { Groups } from "./Groups";
import { errorMessage } from "./format";
import { NewChat } from "./NewChat";
import { StoreSupport } from "./StoreSupport";
import { OutboxProvider, useOutbox } from "./outbox";
import { Search } from "./Search";
import { Notifications } from "./Notifications";
import { Link, notificationsPath, supportDeskPath, useRouter, webhooksPath } from "./router";
import { SupportDesk } from "./SupportDesk";
import { Thread } from "./Thread";
import { Webhooks } from "./Webhooks";

const roleTitle = { customer: "My conversations", store: "Store inbox", admin: "Support console" } as const;

export function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const me = session.identity;
  const { route } = useRouter();
  // The support desk holds its own lists: it takes the whole width.
  const desk = route.page === "support" && me.role === "admin";
  // The demo identities (dev only): the stores a customer may pick and the
  // admins a conversation may be transferred to.
  const [demo, setDemo] = useState<DemoIdentity[] | null>(null);
  useEffect(() => {
    fetchIdentities().then(setDemo, () => setDemo(null));
  }, []);

  return (
    <OutboxProvider>
      <div className={`app role-${me.role}`} data-role={me.role}>
        <header className="topbar">
          <Link to="/" className="brand">
            <span className="logo" aria-hidden>
              ◆
            </span>{" "}
            Parley
          </Link>
          <span className="screen-title">
            {roleTitle[me.role]}
            {me.role === "store" && session.kind === "dev" && session.identity.storeName ? ` · ${session.identity.storeName}` : ""}
          </span>
          <span className="spacer" />
          <nav className="topnav" aria-label="Settings">
            {me.role === "admin" && (
              <Link to={supportDeskPath} className={route.page === "support" ? "on" : ""} data-testid="nav-support-desk">
                Support desk
              </Link>
            )}
            {me.role === "admin" && (
              <Link to={webhooksPath} className={route.page === "webhooks" ? "on" : ""} data-testid="nav-webhooks">
                Webhooks
              </Link>
            )}
            <Link to={notificationsPath} className={route.page === "notifications" ? "on" : ""} data-testid="nav-notifications">
              Notifications
            </Link>
            {demo !== null && (
              // Dev only (the dev sign-in answers): the mail `parley dev` captured instead of sending.
              <a href="/dev/mail" target="_blank" rel="noreferrer" data-testid="nav-dev-mail" title="Mail captured by parley dev">
                Dev mail
              </a>
            )}
          </nav>
          <UnreadTotal />
          <ConnectionDot />
          <span className="whoami" data-testid="whoami">
            <Avatar id={me.sub} name={displayName(me)} small className={`role-${me.role}`} />
            {displayName(me)}
          </span>
          <button className="link" onClick={onSignOut}>
            Sign out
          </button>
        </header>
        <ConnectionBanner />
        <StaleBanner />
        <div className={`layout ${route.page !== "home" ? "has-thread" : ""} ${desk ? "desk-layout" : ""}`}>
          <aside className="sidebar" hidden={desk}>
            <ErrorBoundary fallback={(e, reset) => <ErrorPanel error={e} onRetry={reset} />}>
              <Search />
              {me.role === "customer" && <NewChat demo={demo} />}
              {me.role === "store" && <StoreSupport />}
              <ConversationList me={me} demo={demo} />
              <Groups me={me} demo={demo} />
              <DirectChannels me={me} demo={demo} />
            </ErrorBoundary>
          </aside>
          <main className="main">
            {route.page === "conversation" ? (
              <ErrorBoundary key={route.conversationId} fallback={(e, reset) => <ThreadError error={e} onRetry={reset} />}>
                <Thread conversationId={route.conversationId} me={me} demo={demo} />
              </ErrorBoundary>
            ) : route.page === "notifications" ? (
              <ErrorBoundary key="notifications" fallback={(e, reset) => <ErrorPanel error={e} onRetry={reset} />}>
                <Notifications />
              </ErrorBoundary>
            ) : route.page === "webhooks" && me.role === "admin" ? (
              <ErrorBoundary key="webhooks" fallback={(e, reset) => <ErrorPanel error={e} onRetry={reset} />}>
                <Webhooks />
              </ErrorBoundary>
            ) : route.page === "support" && me.role === "admin" ? (
              <ErrorBoundary key="support" fallback={(e, reset) => <ErrorPanel error={e} onRetry={reset} />}>
                <SupportDesk session={session} demo={demo} />
              </ErrorBoundary>
            ) : (
              <Welcome role={me.role} />
            )}
          </main>
        </div>
      </div>
    </OutboxProvider>
  );
}

/** The total unread count, in the header and the page title. */
function UnreadTotal() {
  const unread = useQuery(api.shared.chat.getUnreadCount, {});
  useEffect(() => {
    document.title = unread ? `(${unread}) Parley` : "Parley";
  }, [unread]);
  if (!unread) return null;
  return (
    <span className="badge total" data-testid="unread-total" title={`${unread} unread`}>
      {unread} unread
    </span>
  );
}

function ConnectionDot() {
  const state = useConnectionState();
  const transport = useParleyClient().transport(); // read again with each state change
  const label = { connected: "Connected", connecting: "Connecting…", disconnected: "Offline" }[state];
  return (
    <span
      className={`conn conn-${state}`}
      data-testid="connection"
      data-state={state}
      data-transport={state === "connected" ? transport : undefined}
      title={transport && state === "connected" ? `${label} (${transport})` : label}
    >
      <span className="dot" aria-hidden /> <span className="conn-label">{label}</span>
    </span>
  );
}

/**
 * Says when the connection is up but the server cannot follow its database
 * (its change stream or the database itself is down): what is shown may be
 * out of date, and what the user sends waits. While the connection itself
 * is down, ConnectionBanner says so instead.
 */
function StaleBanner() {
  const state = useConnectionState();
  const stale = useStale();
  const { items } = useOutbox();
  const waiting = items.filter((i) => i.status === "sending").length;
  if (state !== "connected" || !stale) return null;
  return (
    <div className="banner banner-stale" role="status" data-testid="stale-banner">
      <strong>Reconnecting…</strong> The data shown may be out of date. Messages you send are kept and go out when the server is back
      {waiting > 0 ? ` (${waiting} waiting)` : ""}.
    </div>
  );
}

/** Says when the connection is lost and what happens to what the user sends meanwhile. */
function ConnectionBanner() {
  const state = useConnectionState();
  const { items } = useOutbox();
  const waiting = items.filter((i) => i.status === "sending").length;
  if (state === "connected") return null;
  return (
    <div className={`banner banner-${state}`} role="status" data-testid="connection-banner">
      {state === "connecting" ? (
        "Connecting to the server…"
      ) : (
        <>
          <strong>Connection lost.</strong> Reconnecting… Messages you send are kept and go out when the connection is back
          {waiting > 0 ? ` (${waiting} waiting)` : ""}.
        </>
      )}
    </div>
  );
}

function Welcome({ role }: { role: "customer" | "store" | "admin" }) {
  const text = {
    customer: "Pick a conversation, start a chat with a store about one of your orders, or contact support.",
    store: "Pick a conversation from your store's inbox to reply.",
    admin: "Pick a support conversation to answer, transfer or moderate it.",
  }[role];
  return (
    <div className="empty welcome">
      <div className="empty-icon" aria-hidden>
        <BubbleIcon />
      </div>
      <p>{text}</p>
    </div>
  );
}

export function ErrorPanel({ error, onRetry }: { error: unknown; onRetry: () => void }) {
  return (
    <div className="empty error-state" role="alert">
      <p>Something went wrong: {errorMessage(error)}</p>
      <button onClick={onRetry}>Retry</button>
    </div>
  );
}

function ThreadError({ error, onRetry }: { error: unknown; onRetry: () => void }) {
  const msg = errorMessage(error);
  if (/not found/i.test(msg)) {
    return (
      <div className="empty not-found" data-testid="not-found" role="alert">
        <div className="empty-icon" aria-hidden>
          <BubbleIcon />
        </div>
        <h2>Conversation not found</h2>
        <p className="muted">It does not exist, or you are not part of it.</p>
        <Link to="/">Back to your conversations</Link>
      </div>
    );
  }
  return <ErrorPanel error={error} onRetry={onRetry} />;
}

function BubbleIcon() {
  return (
    <svg width="44" height="44" viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinejoin="round">
      <path d="M4 5h16v11H10l-5 4v-4H4z" />
    </svg>
  );
}
