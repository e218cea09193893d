// A subscriber through the official convex client, for the chaos suite
// (internal/chaos). It subscribes to shared/chat:getMessages for
// PARLEY_CONVERSATION as the holder of PARLEY_TOKEN on PARLEY_URL and
// keeps the latest result; the client reconnects by itself across faults.
// Each line on stdin makes it print one JSON line:
// {"ok":true,"updates":N,"value":<latest result or null>}.
// The convex package is loaded from CONVEX_PACKAGE_DIR (a directory with
// node_modules/convex, e2e/node by default), so this directory needs no
// install of its own.

import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";

const pkgDir = process.env.CONVEX_PACKAGE_DIR;
const require = createRequire(path.join(pkgDir, "package.json"));
const { ConvexClient } = require("convex/browser");
const { anyApi } = require("convex/server");

const client = new ConvexClient(process.env.PARLEY_URL);
client.setAuth(async () => process.env.PARLEY_TOKEN);

let latest = null;
let updates = 0;
let lastError = null;
client.onUpdate(
  anyApi.shared.chat.getMessages,
  { conversationId: process.env.PARLEY_CONVERSATION, limit: Number(process.env.PARLEY_LIMIT || "100") },
  (value) => {
    latest = value;
    updates++;
  },
  (err) => {
    lastError = String(err);
  },
);

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", () => {
  process.stdout.write(JSON.stringify({ ok: true, updates, value: latest, error: lastError }) + "\n");
});
rl.on("close", async () => {
  await client.close();
  process.exit(0);
});
process.stdout.write(JSON.stringify({ ready: true }) + "\n");
