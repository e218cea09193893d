// Guest identities: a visitor without an account (a shop's chat widget)
// asks the server for a guest token (POST /api/guest), chats with support
// under it, and after signing in hands its conversations to its account
// (shared/chat:claimGuestThreads with the guest token as proof).

/** A guest identity from POST /api/guest. */
export interface GuestToken {
  /** The token to connect with (role "guest"); it cannot be refreshed. */
  token: string;
  /** The guest's subject ("guest_…"). */
  guestId: string;
  /** The name support sees: the one asked for, else "Guest" and four hex digits. */
  name: string;
  /** When the token expires, in milliseconds since the epoch. */
  expiresAt: number;
}

/** Options of {@link requestGuestToken}. */
export interface GuestTokenOptions {
  /** The name support sees (at most 100 characters). Undefined: the server picks one. */
  name?: string;
  /** The organization to chat with (a token's org claim). Undefined: the default one. */
  org?: string;
  /** The fetch to use. Undefined means globalThis.fetch. */
  fetch?: typeof fetch;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/**
 * Why POST /api/guest refused: "invalid" (400, a bad name or org),
 * "disabled" (403, guest access is off on the server), "rate_limited"
 * (429: too many tokens from this address; retryAfterMs says when to try
 * again), "server" (anything else).
 */
export type GuestTokenErrorReason = "invalid" | "disabled" | "rate_limited" | "server";

/** The error of {@link requestGuestToken} when the server refuses. */
export class GuestTokenError extends Error {
  override readonly name = "GuestTokenError";
  constructor(
    readonly reason: GuestTokenErrorReason,
    message: string,
    /** The HTTP status. */
    readonly status: number,
    /** For "rate_limited": how long to wait, in milliseconds. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The path of the guest token endpoint. */
export const guestTokenPath = "/api/guest";

/**
 * Asks the server at url (the deployment URL given to createParleyClient)
 * for a guest token. Rejects with a {@link GuestTokenError} when the
 * server refuses, and with fetch's error when it cannot be reached.
 */
export async function requestGuestToken(url: string, options: GuestTokenOptions = {}): Promise<GuestToken> {
  const body: { name?: string; org?: string } = {};
  if (options.name !== undefined) body.name = options.name;
  if (options.org !== undefined) body.org = options.org;
  const doFetch = options.fetch ?? globalThis.fetch;
  const res = await doFetch(new URL(guestTokenPath, url).toString(), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const answer = (await res.json().catch(() => ({}))) as Partial<GuestToken> & { error?: string; retryAfterMs?: number };
  if (res.ok && typeof answer.token === "string" && typeof answer.guestId === "string") {
    return { token: answer.token, guestId: answer.guestId, name: answer.name ?? "", expiresAt: answer.expiresAt ?? 0 };
  }
  const reason: GuestTokenErrorReason =
    res.status === 400 ? "invalid" : res.status === 403 ? "disabled" : res.status === 429 ? "rate_limited" : "server";
  throw new GuestTokenError(reason, answer.error ?? `POST ${guestTokenPath}: HTTP ${res.status}`, res.status, answer.retryAfterMs);
}
