// The deployment URL as users write it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { api, SERVER_URL, TOKENS, within } from "./helpers.mjs";

const chat = api.shared.chat;

test("ConvexHttpClient accepts a deployment URL with a trailing slash", async () => {
  // The client builds SERVER_URL + "//api/query"; the mux redirects (307) to
  // /api/query and fetch repeats the POST there.
  const slash = new ConvexHttpClient(SERVER_URL + "/");
  slash.setAuth(TOKENS.customer);
  const n = await within(slash.query(chat.getUnreadCount, {}), undefined, "HTTP query via a trailing-slash URL");
  assert.equal(typeof n, "number");
});

// ConvexClient("http://host:port/") opens ws://host:port//api/1.48.0/sync;
// the server must route it without a redirect (handshakes do not follow them).
test(
  "ConvexClient accepts a deployment URL with a trailing slash",
  async (t) => {
    const c = new ConvexClient(SERVER_URL + "/");
    t.after(() => c.close());
    c.setAuth(async () => TOKENS.customer);
    const n = await within(c.query(chat.getUnreadCount, {}), 3000, "WebSocket query via a trailing-slash URL");
    assert.equal(typeof n, "number");
  },
);
