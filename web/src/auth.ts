// Sign-in. Under `parley dev` the server lists demo identities
// (GET /dev/identities) and mints their tokens (POST /dev/token); under
// `parley serve` those routes do not exist and the user pastes a token
// from the deployment's identity provider. The session lives in
// sessionStorage: one identity per browser tab, kept across reloads, so
// two windows can chat as a customer and a store side by side.

export type Role = "customer" | "store" | "admin";

/** Who the signed-in user is, as the token says. */
export interface Identity {
  sub: string;
  role: Role;
  name?: string;
  store_id?: string;
}

/** A demo identity of `parley dev`. */
export interface DemoIdentity extends Identity {
  key: string;
  storeName?: string;
  about: string;
}

export type Session =
  | { kind: "dev"; key: string; identity: DemoIdentity }
  | { kind: "token"; token: string; identity: Identity };

const storageKey = "parley.session";

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(storageKey);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s) sessionStorage.setItem(storageKey, JSON.stringify(s));
  else sessionStorage.removeItem(storageKey);
}

/** The demo identities, or null when the server has no dev sign-in. */
export async function fetchIdentities(): Promise<DemoIdentity[] | null> {
  const res = await fetch("/dev/identities");
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`GET /dev/identities: HTTP ${res.status}`);
  return (await res.json()) as DemoIdentity[];
}

/** Mints a token for a demo identity (`parley dev` only). */
export async function mintDevToken(key: string): Promise<{ token: string; identity: DemoIdentity }> {
  const res = await fetch("/dev/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ identity: key }),
  });
  const body = (await res.json().catch(() => ({}))) as { token?: string; identity?: DemoIdentity; error?: string };
  if (!res.ok || !body.token || !body.identity) {
    throw new Error(body.error ?? `POST /dev/token: HTTP ${res.status}`);
  }
  return { token: body.token, identity: body.identity };
}

/** The claims of a JWT (not verified: the server does that). */
export function decodeToken(token: string): Identity & { exp?: number } {
  const part = token.split(".")[1];
  if (!part) throw new Error("Not a JWT");
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  const claims = JSON.parse(json) as Identity & { exp?: number };
  if (!claims.sub || !["customer", "store", "admin"].includes(claims.role)) {
    throw new Error("The token has no sub or role claim");
  }
  return claims;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The token fetcher of a session, for createParleyClient's auth. A dev
 * session mints a token when asked for a fresh one; while the server is
 * unreachable (restarting) it keeps trying rather than reporting "signed
 * out", so the connection resumes signed in.
 */
export function tokenFetcher(s: Session): (args: { forceRefreshToken: boolean }) => Promise<string | null> {
  if (s.kind === "token") return async () => s.token;
  let cached: string | null = null;
  return async ({ forceRefreshToken }) => {
    if (cached && !forceRefreshToken) return cached;
    for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
      try {
        cached = (await mintDevToken(s.key)).token;
        return cached;
      } catch (e) {
        if (e instanceof Error && /no demo identity/.test(e.message)) return null;
        await sleep(delay);
      }
    }
  };
}

export function displayName(id: Identity): string {
  return id.name || id.sub;
}
