import { api, type AiChat, type ConversationDoc, type PastRequest, type PickResult, type QueueEntry } from "@parley/client";
import { useMutation, useParleyClient, usePaginatedQuery, useQuery } from "@parley/client/react";
import { useEffect, useState, type FormEvent } from "react";
import { tokenFetcher, type DemoIdentity, type Identity, type Session } from "./auth";
import { AiBadge, AiLog } from "./Assistant";
import { ErrorBoundary } from "./ErrorBoundary";
import { errorMessage, orderLabel, shortTime } from "./format";
import { duration, useNow } from "./SupportQueue";
import { Thread } from "./Thread";

/** The server: the one that serves the app, unless built with VITE_PARLEY_URL (as App's). */
const serverURL = (import.meta.env.VITE_PARLEY_URL as string | undefined) || window.location.origin;

const reasonText: Record<NonNullable<PickResult["reason"]>, string> = {
  queue_empty: "Nobody is waiting.",
  no_matching_request: "Requests are waiting, but none you have the skills for.",
  capacity_full: "You are at capacity: close or transfer a chat first.",
};

type Act = (f: () => Promise<unknown>) => Promise<boolean>;

/** Runs actions one at a time, keeping the last error to show. */
function useAct(): { busy: boolean; error: string | null; act: Act } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const act: Act = async (f) => {
    setBusy(true);
    setError(null);
    try {
      await f();
      return true;
    } catch (e) {
      setError(errorMessage(e));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, act };
}

/**
 * The agents' support desk (admins): their presence and profile, the live
 * queue with its waits counting up, pick-next and claim, their active
 * chats, each with transfer, close, its transcript and the customer's
 * previous conversations (getCustomerHistory, live). While it is open,
 * the connection beats presence (startPresence), idle while the tab is
 * hidden; the server decides who may do what.
 */
export function SupportDesk({ session, demo }: { session: Session; demo: DemoIdentity[] | null }) {
  const me = session.identity;
  const client = useParleyClient();
  const [selected, setSelected] = useState<string | null>(null);

  useEffect(() => {
    const presence = client.startPresence();
    const onVisibility = () => presence.setIdle(document.visibilityState === "hidden");
    onVisibility();
    document.addEventListener("visibilitychange", onVisibility);
    return () => {
      document.removeEventListener("visibilitychange", onVisibility);
      presence.dispose();
    };
  }, [client]);

  return (
    <div className="desk" data-testid="support-desk">
      <div className="page desk-side">
        <div className="page-head">
          <h2>Support desk</h2>
          <p className="muted small">Customers waiting for an agent, live. Pick the next one or claim a request; your chats are below.</p>
        </div>
        <ErrorBoundary fallback={(e) => <p className="error small">{errorMessage(e)}</p>}>
          <AgentProfileCard />
        </ErrorBoundary>
        <ErrorBoundary fallback={(e) => <p className="error small">{errorMessage(e)}</p>}>
          <Queue onTaken={setSelected} />
        </ErrorBoundary>
        <ErrorBoundary fallback={(e) => <p className="error small">{errorMessage(e)}</p>}>
          <ActiveChats me={me} selected={selected} onSelect={setSelected} />
        </ErrorBoundary>
        <ErrorBoundary fallback={(e) => <p className="error small">{errorMessage(e)}</p>}>
          <AiChats selected={selected} onSelect={setSelected} />
        </ErrorBoundary>
      </div>
      <div className="desk-chat">
        {selected ? (
          <ErrorBoundary key={selected} fallback={(e, reset) => <ChatError error={e} onRetry={reset} />}>
            <DeskChat conversationId={selected} session={session} demo={demo} onDone={() => setSelected(null)} onOpen={setSelected} />
          </ErrorBoundary>
        ) : (
          <div className="empty muted">
            <p>Pick the next customer, claim a request or open one of your chats.</p>
          </div>
        )}
      </div>
    </div>
  );
}

function ChatError({ error, onRetry }: { error: unknown; onRetry: () => void }) {
  return (
    <div className="empty error-state" role="alert">
      <p>Something went wrong: {errorMessage(error)}</p>
      <button onClick={onRetry}>Retry</button>
    </div>
  );
}

/** The agent's status switch, skills and capacity (getMyAgentProfile, live; updateAgentProfile). */
function AgentProfileCard() {
  const profile = useQuery(api.shared.support.getMyAgentProfile, {});
  const update = useMutation(api.shared.support.updateAgentProfile);
  const { busy, error, act } = useAct();
  const [skills, setSkills] = useState<string | null>(null);
  const [capacity, setCapacity] = useState<string | null>(null);

  if (profile === undefined) return <p className="muted small">Loading your profile…</p>;
  const shownSkills = skills ?? profile.skills.join(", ");
  const shownCapacity = capacity ?? String(profile.capacity);
  const save = (e: FormEvent) => {
    e.preventDefault();
    void act(async () => {
      await update({
        skills: shownSkills
          .split(/[\s,]+/)
          .map((s) => s.trim())
          .filter(Boolean),
        capacity: Number(shownCapacity),
      });
      setSkills(null);
      setCapacity(null);
    });
  };

  return (
    <section className="card" data-testid="agent-profile" data-status={profile.status} data-effective={profile.effectiveStatus}>
      <div className="row">
        <strong>{profile.name}</strong>
        <span className={`tag presence-${profile.effectiveStatus}`} data-testid="effective-status" title="What routing sees">
          {profile.effectiveStatus}
        </span>
        <span className="muted small">
          {profile.sessions} session{profile.sessions === 1 ? "" : "s"}
        </span>
      </div>
      <div className="row" role="radiogroup" aria-label="Status">
        {(["online", "away", "offline"] as const).map((s) => (
          <button
            key={s}
            role="radio"
            aria-checked={profile.status === s}
            className={profile.status === s ? "tab on" : "tab"}
            disabled={busy}
            data-testid={`status-${s}`}
            onClick={() => void act(() => update({ status: s }))}
          >
            {s[0]!.toUpperCase() + s.slice(1)}
          </button>
        ))}
      </div>
      <form className="row" onSubmit={save}>
        <label className="small">
          Skills{" "}
          <input
            value={shownSkills}
            onChange={(e) => setSkills(e.target.value)}
            placeholder="billing, shipping, es"
            aria-label="Skills"
            data-testid="agent-skills"
          />
        </label>
        <label className="small">
          Capacity{" "}
          <input
            type="number"
            min={1}
            max={50}
            value={shownCapacity}
            onChange={(e) => setCapacity(e.target.value)}
            aria-label="Capacity"
            style={{ width: 64 }}
            data-testid="agent-capacity"
          />
        </label>
        <button type="submit" disabled={busy || (skills === null && capacity === null)} data-testid="save-profile">
          Save
        </button>
      </form>
      {error && (
        <p className="error small" role="alert" data-testid="profile-error">
          {error}
        </p>
      )}
    </section>
  );
}

/** The live queue (getQueue), each wait counting up from its enqueuedAt; Pick next and Claim. */
function Queue({ onTaken }: { onTaken: (conversationId: string) => void }) {
  const queue = useQuery(api.shared.support.getQueue, {});
  const pick = useMutation(api.shared.support.pickNext);
  const claim = useMutation(api.shared.support.claim);
  const { busy, error, act } = useAct();
  const [picked, setPicked] = useState<PickResult | null>(null);
  const now = useNow((queue?.requests.length ?? 0) > 0);

  const pickNext = () =>
    void act(async () => {
      setPicked(null);
      const res = await pick({});
      setPicked(res);
      if (res.conversationId) onTaken(res.conversationId);
    });

  return (
    <section className="card" data-testid="queue" data-waiting={queue?.waiting ?? ""}>
      <div className="row">
        <h4>Queue</h4>
        <span className="muted small" data-testid="queue-waiting">
          {queue === undefined ? "…" : `${queue.waiting} waiting`}
        </span>
        <span className="spacer" />
        <button className="primary" disabled={busy} onClick={pickNext} data-testid="pick-next">
          Pick next
        </button>
      </div>
      {picked &&
        (picked.conversationId ? (
          <p className="small" data-testid="pick-result" data-picked="true">
            You took {picked.customerName ?? picked.customerId}
            {picked.topic ? ` (${picked.topic})` : ""} · {picked.load}/{picked.capacity} chats
          </p>
        ) : (
          <p className="small muted" data-testid="pick-result" data-picked="false" data-reason={picked.reason ?? ""}>
            Nothing picked: {picked.reason ? reasonText[picked.reason] : "nothing to take."}
          </p>
        ))}
      {error && (
        <p className="error small" role="alert" data-testid="queue-error">
          {error}
        </p>
      )}
      {queue && queue.requests.length === 0 && (
        <p className="muted small" data-testid="queue-empty">
          Nobody is waiting.
        </p>
      )}
      {queue && queue.requests.length > 0 && (
        <table className="queue-table small">
          <thead>
            <tr>
              <th>#</th>
              <th>Customer</th>
              <th>Waiting</th>
              <th>Skills</th>
              <th>Preview</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {queue.requests.map((r) => (
              <QueueRow
                key={r.requestId}
                r={r}
                now={now}
                busy={busy}
                onClaim={() =>
                  void act(async () => {
                    const res = await claim({ conversationId: r.conversationId });
                    onTaken(res.conversationId ?? r.conversationId);
                  })
                }
              />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function QueueRow({ r, now, busy, onClaim }: { r: QueueEntry; now: number; busy: boolean; onClaim: () => void }) {
  return (
    <tr data-testid="queue-row" data-conversation-id={r.conversationId} data-position={r.position}>
      <td data-testid="queue-row-position">{r.position}</td>
      <td>
        <strong>{r.customerName || r.customerId}</strong>
        {r.priority !== "normal" && <span className={`tag priority-${r.priority}`}> {r.priority}</span>}
        {r.orderId && <div className="muted">{orderLabel({ orderId: r.orderId })}</div>}
      </td>
      <td data-testid="queue-row-wait" title={`Since ${shortTime(r.enqueuedAt)}`}>
        {duration((now - r.enqueuedAt) / 1000)}
      </td>
      <td>{r.skills.length ? r.skills.join(", ") : <span className="muted">any</span>}</td>
      <td className="queue-preview" data-testid="queue-row-preview">
        {r.topic && <strong>{r.topic}: </strong>}
        {r.preview ?? ""}
      </td>
      <td>
        <button disabled={busy} onClick={onClaim} data-testid="claim">
          Claim
        </button>
      </td>
    </tr>
  );
}

/** The agent's open support chats: the active customer conversations assigned to them (live). */
function ActiveChats({ me, selected, onSelect }: { me: Identity; selected: string | null; onSelect: (id: string) => void }) {
  const pages = usePaginatedQuery(
    api.shared.chat.getConversationsPaginated,
    { status: "active", kind: "customer_to_admin" },
    { initialNumItems: 100 },
  );
  const mine = pages.results.filter((c) => c.assignedAdminId === me.sub);
  return (
    <section className="card" data-testid="active-chats">
      <h4>My chats</h4>
      {pages.status === "LoadingFirstPage" ? (
        <p className="muted small">Loading…</p>
      ) : mine.length === 0 ? (
        <p className="muted small" data-testid="no-active-chats">
          No open chats.
        </p>
      ) : (
        <ul className="desk-chats">
          {mine.map((c) => (
            <li key={c._id}>
              <button
                className={`link ${selected === c._id ? "on" : ""}`}
                onClick={() => onSelect(c._id)}
                data-testid="active-chat"
                data-conversation-id={c._id}
              >
                <strong>{c.customerName || c.customerId}</strong>
                {c.orderId ? <span className="muted"> · {orderLabel({ summary: c.orderSummary, orderId: c.orderId })}</span> : null}
                <span className="muted"> · {c.lastMessagePreview ?? ""}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/**
 * The conversations AI assistants answer now (getAiChats, live): an agent
 * opens one to watch it (the answer streaming in its thread) and may take
 * it over there.
 */
function AiChats({ selected, onSelect }: { selected: string | null; onSelect: (id: string) => void }) {
  const chats = useQuery(api.shared.assistant.getAiChats, {});
  return (
    <section className="card" data-testid="ai-chats" data-count={chats?.length ?? ""}>
      <h4>
        AI chats <span className="muted small">{chats === undefined ? "…" : `${chats.length} answered by an assistant`}</span>
      </h4>
      {chats === undefined ? (
        <p className="muted small">Loading…</p>
      ) : chats.length === 0 ? (
        <p className="muted small" data-testid="no-ai-chats">
          No assistant is answering anyone now.
        </p>
      ) : (
        <ul className="desk-chats">
          {chats.map((c) => (
            <AiChatRow key={c.conversationId} c={c} on={selected === c.conversationId} onSelect={onSelect} />
          ))}
        </ul>
      )}
    </section>
  );
}

function AiChatRow({ c, on, onSelect }: { c: AiChat; on: boolean; onSelect: (id: string) => void }) {
  return (
    <li>
      <button
        className={`link ${on ? "on" : ""}`}
        onClick={() => onSelect(c.conversationId)}
        data-testid="ai-chat"
        data-conversation-id={c.conversationId}
        data-streaming={String(c.streaming)}
        title={`${c.assistantName} · ${c.tokensUsed} tokens${c.failures ? ` · ${c.failures} without an answer` : ""}`}
      >
        <strong>{c.customerName || c.customerId}</strong>
        {c.orderId ? <span className="muted"> · {orderLabel({ orderId: c.orderId })}</span> : null}
        {c.streaming ? (
          <span className="tag ai-writing" data-testid="ai-chat-streaming">
            writing…
          </span>
        ) : null}
        {c.preview ? <span className="muted"> · {c.preview}</span> : null}
        {c.lastMessageAt ? <span className="muted"> · {shortTime(c.lastMessageAt)}</span> : null}
      </button>
    </li>
  );
}

/**
 * Who answers a support chat when an assistant was in it
 * (getChatAssistant, live): "Take over" while the assistant answers
 * (takeoverChat: it stops at once, its partial answer kept), "Resume AI"
 * on a chat the agent holds that the assistant had (resumeAi), and the AI
 * log of its replies.
 */
function AssistantControls({ conv, me }: { conv: ConversationDoc; me: Identity }) {
  const assistant = useQuery(api.shared.assistant.getChatAssistant, { conversationId: conv._id });
  const takeover = useMutation(api.shared.support.takeoverChat);
  const resume = useMutation(api.shared.support.resumeAi);
  const { busy, error, act } = useAct();
  const [log, setLog] = useState(false);
  if (!assistant || assistant.state === "none") return null;
  const name = assistant.assistantName ?? "The assistant";
  const active = assistant.state === "active";
  const mine = conv.assignedAdminId === me.sub;
  const closed = conv.status === "closed";
  return (
    <section className="desk-actions card assistant-controls" data-testid="assistant-controls" data-state={assistant.state} data-streaming={String(assistant.streaming)}>
      <div className="row small">
        <AiBadge />
        <strong>{name}</strong>
        <span className="muted" data-testid="assistant-state">
          {active
            ? assistant.streaming
              ? "is answering now"
              : "answers this chat"
            : assistant.state === "taken_over"
              ? "was taken over"
              : `handed off${assistant.reason ? `: ${assistant.reason}` : ""}`}
        </span>
        <span className="spacer" />
        {active && !closed && (
          <button className="primary" disabled={busy} onClick={() => void act(() => takeover({ conversationId: conv._id }))} data-testid="take-over">
            Take over
          </button>
        )}
        {!active && mine && !closed && (
          <button disabled={busy} onClick={() => void act(() => resume({ conversationId: conv._id }))} data-testid="resume-ai">
            Resume AI
          </button>
        )}
        <button className="link" onClick={() => setLog((v) => !v)} aria-expanded={log} data-testid="ai-log-toggle">
          {log ? "Hide AI log" : "AI log"}
        </button>
      </div>
      {log && <AiLog conversationId={conv._id} />}
      {error && (
        <p className="error small" role="alert" data-testid="assistant-error">
          {error}
        </p>
      )}
    </section>
  );
}

/**
 * One chat: the support actions (transfer, close, transcript) and the
 * customer's previous conversations above the thread view.
 */
function DeskChat({
  conversationId,
  session,
  demo,
  onDone,
  onOpen,
}: {
  conversationId: string;
  session: Session;
  demo: DemoIdentity[] | null;
  onDone: () => void;
  onOpen: (conversationId: string) => void;
}) {
  const conv = useQuery(api.shared.chat.getConversation, { conversationId });
  return (
    <div className="desk-chat-inner" data-testid="desk-chat" data-conversation-id={conversationId}>
      {conv && <DeskActions conv={conv} session={session} onTransferred={onDone} />}
      {conv?.conversationType === "customer_to_admin" && (
        <ErrorBoundary fallback={(e) => <p className="error small desk-actions">{errorMessage(e)}</p>}>
          <AssistantControls conv={conv} me={session.identity} />
        </ErrorBoundary>
      )}
      {conv?.conversationType === "customer_to_admin" && (
        <ErrorBoundary fallback={(e) => <p className="error small desk-actions">{errorMessage(e)}</p>}>
          <PreviousConversations conversationId={conversationId} onOpen={onOpen} />
        </ErrorBoundary>
      )}
      <Thread conversationId={conversationId} me={session.identity} demo={demo} desk />
    </div>
  );
}

function DeskActions({ conv, session, onTransferred }: { conv: ConversationDoc; session: Session; onTransferred: () => void }) {
  const me = session.identity;
  const agents = useQuery(api.shared.support.getOnlineAgents, {});
  // The conversation's support request: its topic, skills and who holds it.
  const request = useQuery(api.shared.support.getMyQueueStatus, { conversationId: conv._id });
  const transfer = useMutation(api.shared.support.transferChat);
  const close = useMutation(api.shared.support.closeChat);
  const { busy, error, act } = useAct();
  const [to, setTo] = useState("");
  const [note, setNote] = useState("");
  const [reason, setReason] = useState("");
  const [format, setFormat] = useState<"text" | "html">("text");
  const others = (agents ?? []).filter((a) => a.userId !== me.sub);
  // "agent:<id>" or "skill:<name>"; the first other agent by default.
  const target = to || (others[0] ? `agent:${others[0].userId}` : "");
  const [skill, setSkill] = useState("");
  const closed = conv.status === "closed";
  const mine = conv.assignedAdminId === me.sub;
  // Another of the customer's conversations opened from their history (a store chat): read only.
  const desk = conv.conversationType === "customer_to_admin";

  const doTransfer = (e: FormEvent) => {
    e.preventDefault();
    void act(async () => {
      const args = skill.trim()
        ? { conversationId: conv._id, toSkill: skill.trim(), note: note.trim() || undefined }
        : { conversationId: conv._id, toAgentId: target.replace(/^agent:/, ""), note: note.trim() || undefined };
      await transfer(args);
      setNote("");
      setSkill("");
      setTo("");
    }).then((ok) => {
      if (ok) onTransferred();
    });
  };

  const doClose = (e: FormEvent) => {
    e.preventDefault();
    void act(async () => {
      await close({ conversationId: conv._id, reason: reason.trim() || undefined });
      setReason("");
    });
  };

  const download = () =>
    void act(async () => {
      const token = await tokenFetcher(session)({ forceRefreshToken: false });
      const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
      const q = new URLSearchParams({ conversationId: conv._id, format, timeZone: tz });
      const res = await fetch(`${serverURL}/api/transcript?${q}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
      if (!res.ok) throw new Error(`Transcript: ${(await res.text().catch(() => "")) || `HTTP ${res.status}`}`);
      const name = /filename="?([^";]+)"?/.exec(res.headers.get("Content-Disposition") ?? "")?.[1] ?? `transcript-${conv._id}.${format === "html" ? "html" : "txt"}`;
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    });

  return (
    <section className="desk-actions card" data-testid="desk-actions">
      <div className="row small">
        <strong>{conv.customerName || conv.customerId}</strong>
        {conv.customerIsGuest && <span className="tag guest">guest</span>}
        {conv.orderId && (
          <span data-testid="desk-order">{orderLabel({ summary: conv.orderSummary, orderId: conv.orderId, storeName: conv.storeName })}</span>
        )}
        {request && request.state !== "none" && (
          <span className="muted" data-testid="desk-request">
            {request.topic ? `${request.topic} · ` : ""}
            {request.skills.length ? `${request.skills.join(", ")} · ` : ""}
            {request.enqueuedAt ? `asked ${shortTime(request.enqueuedAt)}` : ""}
            {request.agentName && request.state === "assigned" ? ` · with ${request.agentName}` : ""}
          </span>
        )}
        <span className="tag" data-testid="desk-chat-status">
          {closed ? "closed" : mine ? "yours" : conv.assignedAdminId ? "another agent's" : "unassigned"}
        </span>
      </div>
      {!closed && desk && (
        <form className="row small" onSubmit={doTransfer}>
          <select value={target} onChange={(e) => setTo(e.target.value)} aria-label="Transfer to agent" data-testid="desk-transfer-to" disabled={!!skill.trim()}>
            {others.length === 0 && <option value="">No other agent online</option>}
            {others.map((a) => (
              <option key={a.userId} value={`agent:${a.userId}`}>
                {a.name}
                {a.status === "away" ? " (away)" : ""}
                {a.skills.length ? ` · ${a.skills.join(", ")}` : ""}
              </option>
            ))}
          </select>
          <input value={skill} onChange={(e) => setSkill(e.target.value)} placeholder="…or a skill" aria-label="Transfer to skill" data-testid="desk-transfer-skill" style={{ width: 100 }} />
          <input value={note} onChange={(e) => setNote(e.target.value)} placeholder="Note" aria-label="Transfer note" data-testid="desk-transfer-note" />
          <button type="submit" disabled={busy || (!skill.trim() && !target)} data-testid="desk-transfer">
            Transfer
          </button>
        </form>
      )}
      {!closed && desk && (
        <form className="row small" onSubmit={doClose}>
          <input value={reason} onChange={(e) => setReason(e.target.value)} placeholder="Reason (optional)" aria-label="Close reason" maxLength={500} data-testid="desk-close-reason" />
          <button type="submit" disabled={busy} data-testid="desk-close">
            Close chat
          </button>
        </form>
      )}
      <div className="row small">
        <select value={format} onChange={(e) => setFormat(e.target.value as "text" | "html")} aria-label="Transcript format" data-testid="transcript-format">
          <option value="text">Text</option>
          <option value="html">HTML</option>
        </select>
        <button className="link" disabled={busy} onClick={download} data-testid="transcript">
          Transcript
        </button>
      </div>
      {error && (
        <p className="error small" role="alert" data-testid="desk-error">
          {error}
        </p>
      )}
    </section>
  );
}

/** What a past request says of its outcome: who had it and why it closed, or that it is still open. */
function requestOutcome(r: PastRequest): string {
  const who = r.agentName ?? (r.state === "queued" ? null : "nobody");
  if (r.state === "closed") return `${who ? `with ${who}` : "nobody took it"}${r.closeReason ? ` · closed: ${r.closeReason}` : " · closed"}`;
  return r.state === "assigned" ? `open · with ${who}` : "open · waiting";
}

/**
 * The customer's context beside a chat (getCustomerHistory, live): their
 * earlier support requests (topic, date, agent, close reason; one of
 * another conversation opens it) and their other conversations.
 */
function PreviousConversations({ conversationId, onOpen }: { conversationId: string; onOpen: (conversationId: string) => void }) {
  const history = useQuery(api.shared.support.getCustomerHistory, { conversationId });
  if (history === undefined) return <p className="muted small desk-actions">Loading the customer's history…</p>;
  const { requests, conversations, requestCount } = history;
  return (
    <section className="desk-actions card desk-history" data-testid="previous-conversations" data-count={requestCount}>
      <details open={requests.length > 0}>
        <summary className="small">
          <strong>Previous conversations</strong>{" "}
          <span className="muted" data-testid="previous-count">
            {requestCount === 0 ? `none before this one with ${history.customerName}` : `${requestCount} earlier request${requestCount === 1 ? "" : "s"}`}
          </span>
        </summary>
        {requests.length > 0 && (
          <ul className="desk-chats small">
            {requests.map((r) => {
              const here = r.conversationId === conversationId;
              const body = (
                <>
                  <strong>{r.topic ?? "No topic"}</strong>
                  <span className="muted" title={`Asked ${shortTime(r.enqueuedAt)}`}>
                    {" "}
                    · {shortTime(r.closedAt ?? r.enqueuedAt)}
                  </span>
                  {r.orderId && <span className="muted"> · {orderLabel({ orderId: r.orderId })}</span>}
                  <span className="muted" data-testid="previous-outcome">
                    {" "}
                    · {requestOutcome(r)}
                  </span>
                  {here && (
                    <>
                      {" "}
                      <span className="tag" data-testid="previous-here">
                        this chat
                      </span>
                    </>
                  )}
                </>
              );
              return (
                <li key={r.requestId} data-testid="previous-request" data-request-id={r.requestId} data-conversation-id={r.conversationId} data-state={r.state}>
                  {here ? (
                    body
                  ) : (
                    <button className="link" onClick={() => onOpen(r.conversationId)} data-testid="previous-open">
                      {body}
                    </button>
                  )}
                </li>
              );
            })}
          </ul>
        )}
        {requestCount > requests.length && <p className="muted small">…and {requestCount - requests.length} older.</p>}
        {conversations.length > 0 && (
          <>
            <p className="muted small">Other conversations</p>
            <ul className="desk-chats small">
              {conversations.map((c) => (
                <li key={c.conversationId} data-testid="customer-conversation" data-conversation-id={c.conversationId}>
                  <button className="link" onClick={() => onOpen(c.conversationId)}>
                    <strong>{c.type === "customer_to_store" ? (c.storeName ?? "A store") : "Support"}</strong>
                    {c.orderId && <span className="muted"> · {orderLabel({ orderId: c.orderId })}</span>}
                    <span className="muted">
                      {" "}
                      · {shortTime(c.lastMessageAt ?? c.createdAt)} · {c.lastMessagePreview ?? ""}
                    </span>
                    {c.status !== "active" && <span className="tag">{c.status}</span>}
                  </button>
                </li>
              ))}
            </ul>
          </>
        )}
      </details>
    </section>
  );
}
