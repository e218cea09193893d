import { api } from "@parley/client";
import { useQuery } from "@parley/client/react";
import { useEffect, useState } from "react";
import { shortTime } from "./format";
import { conversationPath, Link } from "./router";

/**
 * Message search (searchMessages): live results, best matches first, over
 * every conversation the caller may see. Typing waits 300 ms before it
 * asks, so a word is one query, not one per letter.
 */
export function Search() {
  const [text, setText] = useState("");
  const [query, setQuery] = useState("");
  useEffect(() => {
    const t = setTimeout(() => setQuery(text.trim()), 300);
    return () => clearTimeout(t);
  }, [text]);
  const results = useQuery(api.shared.chat.searchMessages, query ? { query, limit: 20 } : "skip");

  return (
    <section className="search" aria-label="Search messages">
      <input
        type="search"
        value={text}
        onChange={(e) => setText(e.target.value)}
        placeholder="Search messages…"
        aria-label="Search messages"
        data-testid="search-input"
        maxLength={200}
      />
      {query && (
        <div className="search-results small" data-testid="search-results">
          {results === undefined ? (
            <p className="muted">Searching…</p>
          ) : results.messages.length === 0 ? (
            <p className="muted" data-testid="search-empty">
              No message matches “{query}”.
            </p>
          ) : (
            <ul>
              {results.messages.map((m) => (
                <li key={m._id}>
                  <Link to={conversationPath(m.conversationId)} className="search-result" data-testid="search-result">
                    <strong>{m.senderName}</strong> <span className="muted">{shortTime(m._creationTime)}</span>
                    <div className="preview">{m.content}</div>
                  </Link>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
