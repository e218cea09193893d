// A Convex-style app around the document's useChat hook: ConvexProvider
// and ConvexReactClient from the official convex/react, pointed at this
// Parley (only the URL differs from a Convex deployment). It signs in as a
// demo identity of `parley dev` (?as=KEY, POST /dev/token) and shows the
// conversation ?conversation=ID with a composer.
import { ConvexProvider, ConvexReactClient } from "convex/react";
import { StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";
import type { Doc, Id } from "./convex/_generated/dataModel";
import useChat from "./useChat";

const params = new URLSearchParams(window.location.search);
const who = params.get("as") ?? "john";
// Typed as a Convex app types them, from the generated data model.
const conversationId: Id<"conversations"> = params.get("conversation") ?? "conv123456789";

function Line({ m }: { m: Doc<"messages"> }) {
  return (
    <li data-testid="snippet-message" data-sender={m.senderId satisfies Id<"users">}>
      <b>{m.senderName}</b>: {m.content}
    </li>
  );
}

const convex = new ConvexReactClient(window.location.origin);
convex.setAuth(async () => {
  const res = await fetch("/dev/token", { method: "POST", body: JSON.stringify({ identity: who }) });
  if (!res.ok) return null;
  return ((await res.json()) as { token: string }).token;
});

function Chat() {
  const { messages, unreadCount, sendMessage } = useChat(conversationId);
  const [text, setText] = useState("");
  if (messages === undefined) return <p data-testid="loading">Loading…</p>;
  return (
    <main>
      <p data-testid="unread">unread: {unreadCount ?? "…"}</p>
      <ul>
        {[...messages.messages].reverse().map((m) => (
          <Line key={m._id} m={m} />
        ))}
      </ul>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void sendMessage({ conversationId, content: text, messageType: "text" });
          setText("");
        }}
      >
        <input data-testid="snippet-input" value={text} onChange={(e) => setText(e.target.value)} />
      </form>
    </main>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ConvexProvider client={convex}>
      <Chat />
    </ConvexProvider>
  </StrictMode>,
);
