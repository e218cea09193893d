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

/** A day: "3 Jan 2022". */
export function shortDate(ms: number): string {
  return new Date(ms).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
}

/** A short reference for an id a person would not read whole: "#456789". */
export function shortRef(id: string): string {
  return `#${id.length > 8 ? id.slice(-6) : id}`;
}

/** What the API tells of an order (getConversation's orderSummary); any field may be missing. */
export interface OrderInfo {
  _id?: string;
  totalAmount?: number;
  status?: string;
  orderDate?: number;
}

/**
 * An order as a person recognises it, from what is known of it (the store's
 * name, the order's date, total and status): "Pizza Palace order of 3 Jan
 * 2022 · $25.50 · Delivered", or "Order of 3 Jan 2022 · …" where the store
 * is named already. Without a date or a total it keeps a short reference
 * ("Order #456789") so that two orders can be told apart; never the raw id.
 */
export function orderLabel({ summary, orderId, storeName }: { summary?: OrderInfo | null; orderId?: string | null; storeName?: string | null }): string {
  const id = summary?._id ?? orderId ?? undefined;
  const date = typeof summary?.orderDate === "number" && summary.orderDate > 0 ? summary.orderDate : undefined;
  const total = typeof summary?.totalAmount === "number" && Number.isFinite(summary.totalAmount) ? summary.totalAmount : undefined;
  let head = storeName ? `${storeName} order` : "Order";
  if (date !== undefined) head += ` of ${shortDate(date)}`;
  else if (total === undefined && id) head += ` ${shortRef(id)}`;
  const parts = [head];
  if (total !== undefined) parts.push(money(total));
  if (summary?.status) parts.push(summary.status[0]!.toUpperCase() + summary.status.slice(1));
  return parts.join(" · ");
}
