// The web app on `parley dev --nodes 3`: three cluster nodes over the
// embedded NATS behind dev's round-robin proxy. John uses the proxy's
// address, as `make run-cluster` users do; Pizza Palace Support one node's
// own address, another window another's, so a message crosses nodes over
// NATS before it appears.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DevServer, launchBrowser, message, openAs, screenshot, send } from "./harness.mjs";

const stamp = Date.now().toString(36);

let server;
let browser;
let nodes;

before(async () => {
  server = await DevServer.start(["--nodes", "3"]);
  browser = await launchBrowser();
  const m = /parley: nodes on (\S+)/.exec(server.log);
  assert.ok(m, `no nodes line in the banner:\n${server.log}`);
  nodes = m[1].split(",");
  assert.equal(nodes.length, 3);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test("two windows chat live across the nodes of a cluster", async () => {
  const john = await openAs(browser, server, "john");
  const pizza = await openAs(browser, { url: nodes[1] }, "pizza");
  const kitchen = await openAs(browser, { url: nodes[2] }, "pizza");
  for (const [page, who] of [[john, "Pizza Palace"], [pizza, "John Doe"], [kitchen, "John Doe"]]) {
    await page.getByTestId("conversation").filter({ hasText: who }).click();
    await page.getByTestId("thread").waitFor();
  }
  const fromJohn = `Is my pizza on its way? ${stamp}`;
  await send(john, fromJohn);
  await message(pizza, fromJohn).waitFor();
  await message(kitchen, fromJohn).waitFor();
  const fromPizza = `Out for delivery ${stamp}`;
  await send(pizza, fromPizza);
  await message(john, fromPizza).waitFor();
  await message(kitchen, fromPizza).waitFor();
  await screenshot(john, "cluster-customer");
  for (const page of [john, pizza, kitchen]) assert.deepEqual(page.errors, []);
});
