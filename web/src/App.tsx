import { createParleyClient, type ParleyClient, type Transport } from "@parley/client";
import { ParleyProvider } from "@parley/client/react";
import { useEffect, useState } from "react";
import { loadSession, mintDevToken, saveSession, tokenFetcher, type Session } from "./auth";
import { Router } from "./router";
import { Shell } from "./Shell";
import { SignIn } from "./SignIn";
import { Widget } from "./Widget";

/** The server: the one that serves the app, unless built with VITE_PARLEY_URL. */
const serverURL = (import.meta.env.VITE_PARLEY_URL as string | undefined) || window.location.origin;

/**
 * How the app reaches the server: "?transport=websocket", "sse" or "poll"
 * forces one (read once, when the page loads); anything else, or none, is
 * "auto" (the WebSocket, falling back to SSE, then long polling).
 */
const transports: readonly Transport[] = ["auto", "websocket", "sse", "poll"];
const requestedTransport = new URLSearchParams(window.location.search).get("transport");
const transport: Transport = transports.find((t) => t === requestedTransport) ?? "auto";

/** The support widget's page (/widget), which a shop embeds; everything else is the app. */
const widgetPath = /^\/widget\/?$/;

export function App() {
  if (widgetPath.test(window.location.pathname)) return <Widget serverURL={serverURL} />;
  return <MainApp />;
}

function MainApp() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [autoSignIn, setAutoSignIn] = useState<string | null>(() => new URLSearchParams(window.location.search).get("as"));

  // "?as=john" signs in as a demo identity at once (handy for links and tests).
  useEffect(() => {
    if (!autoSignIn) return;
    let cancelled = false;
    mintDevToken(autoSignIn)
      .then(({ identity }) => {
        if (cancelled) return;
        signIn({ kind: "dev", key: identity.key, identity });
      })
      .catch(() => {})
      .finally(() => {
        if (cancelled) return;
        setAutoSignIn(null);
        const url = new URL(window.location.href);
        url.searchParams.delete("as");
        window.history.replaceState(null, "", url.pathname + url.search + url.hash);
      });
    return () => {
      cancelled = true;
    };
  }, [autoSignIn]);

  const signIn = (s: Session | null) => {
    saveSession(s);
    setSession(s);
  };

  if (autoSignIn) return <div className="center muted">Signing in…</div>;
  if (!session) return <SignIn onSignIn={signIn} />;
  return <Connected key={sessionKey(session)} session={session} onSignOut={() => signIn(null)} />;
}

function sessionKey(s: Session): string {
  return s.kind === "dev" ? `dev:${s.key}` : `token:${s.token}`;
}

/** One ParleyClient per session, closed when the user signs out. */
function Connected({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const [client, setClient] = useState<ParleyClient | null>(null);
  useEffect(() => {
    const c = createParleyClient({ url: serverURL, auth: tokenFetcher(session), transport });
    setClient(c);
    return () => {
      void c.close();
    };
  }, [session]);
  if (!client) return null;
  return (
    <ParleyProvider client={client}>
      <Router>
        <Shell session={session} onSignOut={onSignOut} />
      </Router>
    </ParleyProvider>
  );
}
