import { api, type QueueStatus } from "@parley/client";
import { useMutation, useQuery } from "@parley/client/react";
import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { errorMessage } from "./format";

/**
 * The time now, again every second while mounted: what live counters (a
 * wait counting up, an ETA counting down) render from, so that the queries
 * behind them are not asked again each second (their results carry
 * timestamps and change only when the queue does).
 */
export function useNow(active = true): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return undefined;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

/** A duration in seconds as "42s", "3m 05s" or "1h 02m". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/**
 * The customer's side of the support queue, in their support conversation:
 * "Request an agent" (requestSupport, with an optional topic) and, while
 * waiting, the position and the ETA (getMyQueueStatus, live), the ETA
 * counting down each second from when its result arrived; once an agent
 * holds the conversation, who. held, when given, replaces the request
 * form while no request is open (an agent who took the chat over from the
 * AI assistant holds it without one).
 */
export function QueueWidget({ conversationId, held }: { conversationId: string; held?: ReactNode }) {
  const status = useQuery(api.shared.support.getMyQueueStatus, { conversationId });
  const request = useMutation(api.shared.support.requestSupport);
  const [topic, setTopic] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await request(topic.trim() ? { topic: topic.trim() } : {});
      setTopic("");
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  if (status === undefined) return null;
  return (
    <div className="queue-widget" data-testid="queue-widget" data-state={status.state}>
      {status.state === "queued" ? (
        <Waiting status={status} />
      ) : status.state === "assigned" ? (
        <p className="small" data-testid="queue-assigned">
          You are chatting with <strong>{status.agentName ?? "an agent"}</strong>.
        </p>
      ) : held && status.state === "none" ? (
        held
      ) : (
        <form className="row" onSubmit={(e) => void submit(e)}>
          <input
            value={topic}
            onChange={(e) => setTopic(e.target.value)}
            placeholder="What is it about? (optional)"
            aria-label="Topic"
            maxLength={200}
            data-testid="request-topic"
          />
          <button type="submit" className="primary" disabled={busy} data-testid="request-agent">
            Request an agent
          </button>
          {status.state === "closed" && <span className="muted small">Your last chat with an agent was closed.</span>}
        </form>
      )}
      {error && (
        <p className="error small" role="alert" data-testid="request-error">
          {error}
        </p>
      )}
    </div>
  );
}

/** The position and the ETA, counting down from when this result of getMyQueueStatus arrived. */
function Waiting({ status }: { status: QueueStatus }) {
  // A new result (the query re-ran: the queue or the agents changed) restarts the count.
  const [arrived, setArrived] = useState(() => ({ status, at: Date.now() }));
  if (arrived.status !== status) setArrived({ status, at: Date.now() });
  const now = useNow();
  const eta = status.etaSeconds === null ? null : Math.max(0, status.etaSeconds - Math.floor((now - arrived.at) / 1000));
  return (
    <p className="small" role="status">
      Waiting for an agent: you are number <strong data-testid="queue-position">{status.position}</strong> in the queue
      {eta === null ? (
        <span data-testid="queue-eta" data-eta="">
          {" "}
          · no agent is available right now
        </span>
      ) : (
        <>
          {" "}
          · about <strong data-testid="queue-eta" data-eta={String(eta)}>{duration(eta)}</strong>
        </>
      )}
      {status.topic ? <span className="muted"> · {status.topic}</span> : null}
    </p>
  );
}
