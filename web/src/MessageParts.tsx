import { api, type MessageDoc } from "@parley/client";
import { useMutation, useQuery } from "@parley/client/react";
import { useState, type FormEvent } from "react";
import { errorMessage, shortTime } from "./format";

// The parts of a thread for edited messages and meetings: a meeting's
// card, a message's versions, and the form that schedules a call.

export /** A meeting message's call: its title, when, how long, and a join link. */
function MeetingCard({ meeting }: { meeting: NonNullable<MessageDoc["meeting"]> }) {
  const start = new Date(meeting.startsAt);
  return (
    <div className="meeting" data-testid="meeting">
      <div>
        <span aria-hidden>📅</span> <strong>{meeting.title}</strong>
      </div>
      <div className="small muted">
        {start.toLocaleString(undefined, {
          dateStyle: "medium",
          timeStyle: "short",
        })}{" "}
        · {meeting.durationMinutes} min
      </div>
      <a href={meeting.joinUrl} target="_blank" rel="noreferrer noopener" data-testid="meeting-join">
        Join the call
      </a>
    </div>
  );
}

export /** An edited message's versions, oldest first (live). */
function History({ messageId }: { messageId: string }) {
  const history = useQuery(api.shared.chat.getMessageHistory, { messageId });
  if (history === undefined) return <div className="history small muted">Loading versions…</div>;
  return (
    <ol className="history small" data-testid="history">
      {history.versions.map((v) => (
        <li key={v.version} data-testid="version">
          <span className="muted">{shortTime(v.writtenAt)}</span> {v.content || <em className="muted">(no text)</em>}
        </li>
      ))}
    </ol>
  );
}

export /** Schedules a call in the conversation: a meeting message. */
function MeetingForm({ conversationId, onDone }: { conversationId: string; onDone: () => void }) {
  const send = useMutation(api.shared.chat.sendMessage);
  const inAnHour = new Date(Date.now() + 3600_000);
  inAnHour.setMinutes(0, 0, 0);
  const local = new Date(inAnHour.getTime() - inAnHour.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  const [title, setTitle] = useState("");
  const [start, setStart] = useState(local);
  const [minutes, setMinutes] = useState(30);
  const [url, setUrl] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await send({
        conversationId,
        content: "",
        messageType: "meeting",
        meeting: {
          title,
          startsAt: new Date(start).getTime(),
          durationMinutes: minutes,
          joinUrl: url,
        },
      });
      onDone();
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  return (
    <form className="meeting-form" onSubmit={(e) => void submit(e)} data-testid="meeting-form">
      <input
        value={title}
        onChange={(e) => setTitle(e.target.value)}
        placeholder="Call title"
        aria-label="Call title"
        data-testid="meeting-title"
      />
      <input
        type="datetime-local"
        value={start}
        onChange={(e) => setStart(e.target.value)}
        aria-label="Starts at"
        data-testid="meeting-start"
      />
      <input
        type="number"
        min={1}
        max={1440}
        value={minutes}
        onChange={(e) => setMinutes(Number(e.target.value))}
        aria-label="Duration in minutes"
        data-testid="meeting-minutes"
      />
      <input
        value={url}
        onChange={(e) => setUrl(e.target.value)}
        placeholder="https://… join link"
        aria-label="Join link"
        data-testid="meeting-url"
      />
      <button type="submit" className="primary" data-testid="meeting-send">
        Schedule
      </button>
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
