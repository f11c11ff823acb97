// Starts the workspace emulator (`sdp-emulator`, built by `cargo build -p sdp-emulator`) on a
// free loopback port for one test file.

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const TOKEN = "dapi-node-test-token";

export async function startEmulator() {
  const bin =
    process.env.SDP_EMULATOR_BIN ?? resolve(here, "../../../target/debug/sdp-emulator");
  const child = spawn(bin, ["--port", "0", "--token", TOKEN], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise((ok, fail) => {
    child.once("error", (e) => fail(new Error(`cannot start ${bin}: ${e.message}`)));
    child.once("exit", (code) => fail(new Error(`${bin} exited with ${code}`)));
    createInterface({ input: child.stdout }).once("line", ok);
  });
  /** A workspace REST call, as a test's own check of what the emulator holds. */
  const api = async (path, init = {}) => {
    const res = await fetch(url + path, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, ...init.headers },
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  };
  return { url, api, stop: () => child.kill() };
}

/** A payload with the whole config and its source files, so nothing needs the model. */
export function fullPayload(name) {
  const root = `/Workspace/Users/dev@example.com/${name}`;
  const bronze = `${root}/bronze.sql`;
  return {
    runner_path: "/Workspace/Shared/sdp-agent/sdp_agent_launcher.py",
    existing_cluster_id: "0101-123456-abcdef12",
    catalog: "main",
    schema: "demo",
    pipelineName: name,
    root_path: root,
    workspace_file_paths: [bronze],
    sources: { [bronze]: "CREATE OR REFRESH MATERIALIZED VIEW bronze AS SELECT 1 AS id" },
  };
}
