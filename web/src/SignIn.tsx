import { useEffect, useState, type FormEvent } from "react";
import { decodeToken, fetchIdentities, mintDevToken, type DemoIdentity, type Session } from "./auth";
import { Avatar } from "./avatar";
import { errorMessage } from "./format";

const roleLabel = { customer: "Customer", store: "Store", admin: "Support" } as const;

export function SignIn({ onSignIn }: { onSignIn: (s: Session) => void }) {
  const [identities, setIdentities] = useState<DemoIdentity[] | null | undefined>(undefined);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [token, setToken] = useState("");

  useEffect(() => {
    document.title = "Sign in · Parley";
    fetchIdentities()
      .then(setIdentities)
      .catch((e) => {
        setLoadError(errorMessage(e));
        setIdentities(null);
      });
  }, []);

  const pick = async (key: string) => {
    setBusy(key);
    setError(null);
    try {
      const { identity } = await mintDevToken(key);
      onSignIn({ kind: "dev", key, identity });
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(null);
    }
  };

  const useToken = (e: FormEvent) => {
    e.preventDefault();
    try {
      const t = token.trim();
      onSignIn({ kind: "token", token: t, identity: decodeToken(t) });
    } catch (err) {
      setError(errorMessage(err));
    }
  };

  return (
    <main className="signin">
      <div className="signin-card">
        <h1>
          <span className="logo" aria-hidden>
            ◆
          </span>{" "}
          Parley
        </h1>
        <p className="muted">Marketplace and support chat, live.</p>
        {identities === undefined && <p className="muted">Loading…</p>}
        {identities && (
          <>
            <h2>Sign in as a demo identity</h2>
            <p className="muted small">
              <code>parley dev</code> mints a token for the one you pick. Open a second window to chat as the other side.
            </p>
            <ul className="identities">
              {identities.map((id) => (
                <li key={id.key}>
                  <button
                    className="identity"
                    data-testid={`identity-${id.key}`}
                    disabled={busy !== null}
                    onClick={() => void pick(id.key)}
                  >
                    <Avatar id={id.sub} name={id.name ?? id.sub} className={`role-${id.role}`} />
                    <span className="identity-text">
                      <strong>{id.name ?? id.sub}</strong>
                      <span className={`tag role-${id.role}`}>{roleLabel[id.role]}</span>
                      <span className="muted small">{id.about}</span>
                    </span>
                    {busy === id.key && <span className="muted small">…</span>}
                  </button>
                </li>
              ))}
            </ul>
          </>
        )}
        {identities === null && (
          <>
            <h2>Sign in with a token</h2>
            <p className="muted small">
              This server has no demo sign-in (it is not <code>parley dev</code>
              {loadError ? `: ${loadError}` : ""}). Paste a JWT from your identity provider.
            </p>
          </>
        )}
        <details className="token-form" open={identities === null}>
          <summary>Use a token instead</summary>
          <form onSubmit={useToken}>
            <textarea
              value={token}
              onChange={(e) => setToken(e.target.value)}
              placeholder="eyJhbGciOi…"
              rows={3}
              aria-label="Token"
            />
            <button type="submit" className="primary" disabled={!token.trim()}>
              Sign in
            </button>
          </form>
        </details>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </div>
    </main>
  );
}
