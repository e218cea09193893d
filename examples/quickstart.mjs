// examples/quickstart.mjs: the official `convex` client against Parley.
// Run `make run` (or `bin/parley dev`), then: cd examples && npm install && node quickstart.mjs
import { ConvexClient } from "convex/browser";
import { anyApi as api } from "convex/server";

const url = process.env.PARLEY_URL ?? "http://127.0.0.1:3210";
const conversationId = "conv123456789"; // the demo conversation: John Doe and Pizza Palace
const timeoutMs = 20_000;

function fail(message) {
  console.error(`quickstart: ${message}`);
  process.exit(1);
}
setTimeout(() => fail(`no live update within ${timeoutMs / 1000}s (is parley running at ${url}?)`), timeoutMs);

// A token: PARLEY_TOKEN (e.g. from `bin/parley token --sub cust123456789 --role customer --name "John Doe"`,
// with `--data DIR` if parley dev was started with one),
// else one for John Doe from the dev sign-in of `parley dev` (it answers only on this machine).
async function getToken() {
  if (process.env.PARLEY_TOKEN) return process.env.PARLEY_TOKEN;
  const res = await fetch(`${url}/dev/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ identity: "john" }),
  }).catch((err) => {
    throw new Error(`cannot reach ${url} (${err.cause?.code ?? err.message}): start it with \`make run\` or set PARLEY_URL`);
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.token) {
    throw new Error(`POST ${url}/dev/token: ${res.status} ${body.error ?? ""} (not parley dev? set PARLEY_TOKEN)`);
  }
  return body.token;
}

try {
  const token = await getToken();
  const client = new ConvexClient(url);
  client.setAuth(async () => token);

  // Subscribe, wait for the first result, send, then wait for the live update that shows the message.
  const content = `Hello from quickstart.mjs at ${new Date().toISOString()}`;
  let subscribed;
  const ready = new Promise((resolve) => (subscribed = resolve));
  const delivered = new Promise((resolve, reject) => {
    const unsubscribe = client.onUpdate(
      api.shared.chat.getMessages,
      { conversationId, limit: 50 },
      (page) => {
        subscribed(page);
        const message = page.messages.find((m) => m.content === content);
        if (message) {
          unsubscribe();
          resolve(message);
        }
      },
      reject,
    );
  });
  const first = await Promise.race([ready, delivered]);
  console.log(`subscribed to ${conversationId}: ${first.messages.length} messages`);

  await client.mutation(api.shared.chat.sendMessage, { conversationId, content, messageType: "text" });
  const message = await delivered;
  console.log(`live update: ${message.senderName}: ${message.content}`);

  await client.close();
  process.exit(0);
} catch (err) {
  fail(err?.message ?? String(err));
}
