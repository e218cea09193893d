import { api, toolSteps, type MessageDoc, type RunDoc } from "@parley/client";
import { useParleyClient, useQuery } from "@parley/client/react";
import { useEffect, useState } from "react";
import { errorMessage, shortTime } from "./format";
import { QueueWidget } from "./SupportQueue";

// The AI assistant in a thread (issue 20): an assistant's message (its
// name with an "AI" badge, the answer growing while it streams, its tool
// steps, a note when it was stopped), the customer's bar under a support
// conversation (startChat when opened, "Talk to a human" while the
// assistant answers, else the queue widget), and the agents' "AI log".

/** A tool's icon and what its call says while it runs. */
const tools: Record<string, { icon: string; running: string }> = {
  search_faq: { icon: "🔎", running: "Searching the help articles…" },
  get_order_status: { icon: "📦", running: "Checking the order…" },
  transfer_chat_to_agent: { icon: "🙋", running: "Transferring to an agent…" },
};

function toolOf(name: string) {
  return tools[name] ?? { icon: "🛠️", running: `Running ${name}…` };
}

/** One line per tool call: its result once there, else that it runs. */
export function ToolSteps({ m }: { m: MessageDoc }) {
  const steps = toolSteps(m);
  if (steps.length === 0) return null;
  return (
    <ul className="tool-steps small" data-testid="tool-steps">
      {steps.map((s) => {
        const t = toolOf(s.tool);
        return (
          <li key={s.callId} className={`tool-step ${s.state}`} data-testid="tool-step" data-tool={s.tool} data-state={s.state} title={s.input}>
            <span aria-hidden>{t.icon}</span> {s.state === "running" ? t.running : (s.output ?? (s.state === "error" ? "failed" : "done"))}
          </li>
        );
      })}
    </ul>
  );
}

const interruptedText: Record<NonNullable<MessageDoc["interrupted"]>, string> = {
  takeover: "stopped — an agent took over",
  error: "the assistant could not finish",
  cancelled: "stopped",
};

/** An assistant's message's body: its tool steps, the text (growing while streaming), a note when stopped. */
export function AssistantBody({ m }: { m: MessageDoc }) {
  const streaming = !!m.streaming;
  return (
    <>
      <ToolSteps m={m} />
      {(m.content || streaming) && (
        <div className="text" data-testid="assistant-text">
          {m.content}
          {streaming && (
            <span className="stream-caret" data-testid="streaming-indicator" aria-label="The assistant is writing">
              {m.content ? "" : "…"}
            </span>
          )}
        </div>
      )}
      {m.interrupted && (
        <div className="interrupted small" data-testid="interrupted-note" data-reason={m.interrupted}>
          {interruptedText[m.interrupted] ?? "stopped"}
        </div>
      )}
    </>
  );
}

/** The badge beside an assistant's name. */
export function AiBadge() {
  return (
    <span className="ai-badge" data-testid="ai-badge" title="An AI assistant">
      AI
    </span>
  );
}

/** What a message element says of an assistant's message, for styles and tests. */
export function assistantAttrs(m: MessageDoc): Record<string, string> {
  if (m.senderType !== "assistant") return {};
  return {
    "data-sender-type": "assistant",
    "data-streaming": String(!!m.streaming),
    ...(m.interrupted ? { "data-interrupted": m.interrupted } : {}),
  };
}

/**
 * The customer's bar under their support conversation: opening it starts
 * the assistant (startChat: its greeting, once); while the assistant
 * answers, who it is and "Talk to a human" (requestHuman); otherwise the
 * support queue's widget (request an agent, the position and the ETA).
 * Where no assistant is set up, it is the queue widget alone.
 */
export function CustomerSupportBar({ conversationId }: { conversationId: string }) {
  const client = useParleyClient();
  const assistant = useQuery(api.shared.assistant.getChatAssistant, { conversationId });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    // Idempotent on the server: the greeting is posted once per conversation.
    client.mutation(api.shared.assistant.startChat, { conversationId }).catch(() => {
      // No assistant for this conversation (or not now): the queue widget serves.
    });
  }, [client, conversationId]);

  if (assistant === undefined) return null;
  if (assistant.state === "taken_over") {
    return <QueueWidget conversationId={conversationId} held={<TakenOver conversationId={conversationId} assistantName={assistant.assistantName} />} />;
  }
  if (assistant.state !== "active") return <QueueWidget conversationId={conversationId} />;
  const askHuman = async () => {
    setBusy(true);
    setError(null);
    try {
      await client.mutation(api.shared.assistant.requestHuman, { conversationId });
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="queue-widget assistant-bar" data-testid="assistant-bar" data-state={assistant.state} data-streaming={String(assistant.streaming)}>
      <div className="row small">
        <span>
          <AiBadge /> <strong>{assistant.assistantName ?? "The assistant"}</strong> answers here
          {assistant.streaming ? <span className="muted"> · writing…</span> : null}
        </span>
        <span className="spacer" />
        <button type="button" disabled={busy} onClick={() => void askHuman()} data-testid="talk-to-human">
          Talk to a human
        </button>
      </div>
      {error && (
        <p className="error small" role="alert" data-testid="talk-to-human-error">
          {error}
        </p>
      )}
    </div>
  );
}

/** An agent took the chat over from the assistant: who the customer chats with now. */
function TakenOver({ conversationId, assistantName }: { conversationId: string; assistantName: string | null }) {
  const conv = useQuery(api.shared.chat.getConversation, { conversationId });
  const people = useQuery(api.shared.chat.getParticipants, { conversationId });
  const agent = people?.find((p) => p.userId === conv?.assignedAdminId) ?? people?.find((p) => p.role === "admin");
  return (
    <p className="small" data-testid="queue-assigned" data-taken-over="true">
      You are chatting with <strong>{agent?.name ?? "an agent"}</strong>
      {assistantName ? <span className="muted">, who took over from {assistantName}</span> : null}.
    </p>
  );
}

const runStateText: Record<RunDoc["state"], string> = {
  running: "running",
  done: "answered",
  handed_off: "handed off",
  cancelled: "stopped",
  failed: "failed",
};

/** An AI chat's log for agents (getAssistantRuns, live): each reply's prompt and steps, newest first. */
export function AiLog({ conversationId }: { conversationId: string }) {
  const runs = useQuery(api.shared.assistant.getAssistantRuns, { conversationId });
  if (runs === undefined) return <p className="muted small">Loading the AI log…</p>;
  if (runs.length === 0) return <p className="muted small" data-testid="ai-log-empty">The assistant has not answered here.</p>;
  return (
    <ol className="ai-log small" data-testid="ai-log">
      {runs.map((r) => (
        <li key={r._id} data-testid="ai-run" data-state={r.state}>
          <details>
            <summary>
              {shortTime(r.startedAt)} · {runStateText[r.state] ?? r.state} · {r.tokens} tokens
              {r.error ? <span className="error"> · {r.error}</span> : null}
            </summary>
            <div className="muted">Prompt</div>
            <ul>
              {(r.prompt ?? []).map((p, i) => (
                <li key={i}>
                  <strong>{p.role}:</strong> {p.content}
                </li>
              ))}
            </ul>
            <div className="muted">Steps</div>
            <ul>
              {(r.steps ?? []).map((s, i) => (
                <li key={i} data-testid="ai-step" data-type={s.type}>
                  <strong>{s.tool ? `${s.type} ${s.tool}` : s.type}:</strong> {s.text ?? s.output ?? s.input ?? ""}
                </li>
              ))}
            </ul>
          </details>
        </li>
      ))}
    </ol>
  );
}
