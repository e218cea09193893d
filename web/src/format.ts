import { parleyErrorData } from "@parley/client";

/** A short time: "14:05" today, "Mon 14:05" this week, else "3 Jan 2022". */
export function shortTime(ms: number | undefined): string {
  if (!ms) return "";
  const d = new Date(ms);
  const now = new Date();
  const time = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  if (d.toDateString() === now.toDateString()) return time;
  if (now.getTime() - d.getTime() < 6 * 24 * 3600 * 1000) {
    return `${d.toLocaleDateString(undefined, { weekday: "short" })} ${time}`;
  }
  return d.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
}

export function money(n: number): string {
  return n.toLocaleString(undefined, { style: "currency", currency: "USD" });
}

/** What to tell the user about an error: the server's message when it sent one. */
export function errorMessage(e: unknown): string {
  const data = parleyErrorData(e);
  if (data) {
    if (data.code === "rate_limited" && typeof data.retryAfterMs === "number") {
      return `${data.error} (try again in ${Math.ceil(data.retryAfterMs / 1000)}s)`;
    }
    return data.error;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
