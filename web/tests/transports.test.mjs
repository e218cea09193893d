// The app over each transport in Chromium: ?transport=websocket|sse|poll
// forces one, and a message John sends appears live at Pizza Palace's.
// Behind a proxy that refuses the WebSocket Upgrade (as some corporate
// proxies do), the default "auto" falls back to SSE by itself.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { DevServer, launchBrowser, message, openAs, screenshot, send } from "./harness.mjs";

const conv = "conv123456789"; // John ↔ Pizza Palace (demo data)
const stamp = Date.now().toString(36);

let server;
let browser;

before(async () => {
  server = await DevServer.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** The transport the page's connection uses, as its connection indicator says. */
async function transportOf(page) {
  const dot = page.locator('[data-testid="connection"][data-state="connected"]');
  await dot.waitFor();
  return dot.getAttribute("data-transport");
}

for (const transport of ["websocket", "sse", "poll"]) {
  test(`over ${transport}, a message sent by one appears in the other live`, async () => {
    const path = `/c/${conv}?transport=${transport}`;
    const john = await openAs(browser, server, "john", path);
    const pizza = await openAs(browser, server, "pizza", path);
    try {
      assert.equal(await transportOf(john), transport);
      assert.equal(await transportOf(pizza), transport);
      await john.getByTestId("thread").waitFor();
      await pizza.getByTestId("thread").waitFor();

      const fromJohn = `over ${transport}, from John ${stamp}`;
      await send(john, fromJohn);
      await message(pizza, fromJohn).waitFor();
      await message(john, fromJohn).waitFor();
      const fromPizza = `over ${transport}, from Pizza ${stamp}`;
      await send(pizza, fromPizza);
      await message(john, fromPizza).waitFor();
      await screenshot(john, `transport-${transport}`);
      assert.deepEqual([...john.errors, ...pizza.errors], []);
    } finally {
      await john.context().close();
      await pizza.context().close();
    }
  });
}

/**
 * A proxy in front of the server that passes plain HTTP (streamed both
 * ways) and refuses every WebSocket Upgrade with 403.
 */
async function startUpgradeBlockingProxy(target) {
  const t = new URL(target);
  const proxy = { upgrades: 0 };
  const srv = http.createServer((req, res) => {
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      res.flushHeaders();
      r.pipe(res);
    });
    up.on("error", () => res.destroy());
    res.on("close", () => up.destroy());
    req.pipe(up);
  });
  srv.on("upgrade", (_req, socket) => {
    proxy.upgrades++;
    socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${srv.address().port}`;
  proxy.close = () => {
    srv.closeAllConnections();
    return new Promise((resolve) => srv.close(resolve));
  };
  return proxy;
}

test("auto falls back to SSE behind a proxy that refuses the WebSocket Upgrade", async () => {
  const proxy = await startUpgradeBlockingProxy(server.url);
  const john = await openAs(browser, proxy, "john", `/c/${conv}`);
  const pizza = await openAs(browser, server, "pizza", `/c/${conv}`);
  try {
    assert.equal(await transportOf(john), "sse", "behind the proxy");
    assert.ok(proxy.upgrades >= 1, "the WebSocket was tried first");
    assert.equal(await transportOf(pizza), "websocket", "where nothing blocks it");
    await john.getByTestId("thread").waitFor();
    await pizza.getByTestId("thread").waitFor();
    const fromPizza = `auto fallback, from Pizza ${stamp}`;
    await send(pizza, fromPizza);
    await message(john, fromPizza).waitFor();
    const fromJohn = `auto fallback, from John ${stamp}`;
    await send(john, fromJohn);
    await message(pizza, fromJohn).waitFor();
    assert.deepEqual([...john.errors, ...pizza.errors], []);
  } finally {
    await john.context().close();
    await pizza.context().close();
    await proxy.close();
  }
});
