// `jco serve` runs the component's wasi:http/incoming-handler: the scoring protocol on Node.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { defaultComponent } from "../agent.js";
import { TOKEN, fullPayload, startEmulator } from "./emulator.js";

let emu;
let server;
let base;

/** A loopback port nobody listens on right now. */
const freePort = () =>
  new Promise((ok) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

before(async () => {
  emu = await startEmulator();
  const port = await freePort();
  const jco = join(dirname(fileURLToPath(import.meta.resolve("@bytecodealliance/jco"))), "jco.js");
  // The shim gives the component this process's environment.
  server = spawn(
    process.execPath,
    [jco, "serve", defaultComponent(), "--host", "127.0.0.1", "--port", String(port)],
    {
      env: { ...process.env, DATABRICKS_HOST: emu.url, DATABRICKS_TOKEN: TOKEN },
      stdio: ["ignore", "ignore", "inherit"],
      // `jco serve` runs the server in a child of its own (node _run.js): killing jco alone
      // would leave that child holding this file's stderr, and `node --test` waits for it.
      // A process group of their own lets `after` end both.
      detached: true,
    },
  );
  base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const up = await fetch(`${base}/ping`).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (i > 600 || server.exitCode !== null) throw new Error("jco serve did not start");
    await sleep(100);
  }
});

after(() => {
  if (server?.pid !== undefined && server.exitCode === null) process.kill(-server.pid, "SIGTERM");
  emu?.stop();
});

test("/ping answers ok", async () => {
  const res = await fetch(`${base}/ping`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: "ok" });
});

test("/invocations submits one run per record", async () => {
  const res = await fetch(`${base}/invocations`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ dataframe_records: [fullPayload("served_a"), fullPayload("served_b")] }),
  });
  assert.equal(res.status, 200);
  const { predictions } = await res.json();
  assert.equal(predictions.length, 2);
  for (const p of predictions) {
    const run = await emu.api(`/api/2.2/jobs/runs/get?run_id=${p.run_id}`);
    assert.equal(run.status, 200);
    assert.equal(p.run_url, run.body.run_page_url);
  }
});

test("/invocations names each bad field", async () => {
  const res = await fetch(`${base}/invocations`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ dataframe_records: [fullPayload("ok"), { catalog: 1 }] }),
  });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error_code, "INVALID_PARAMETER_VALUE");
  assert.ok(body.details.some((d) => d.field === "dataframe_records[1].catalog"));
});
