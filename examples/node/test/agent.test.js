// The component under jco + preview2-shim, against the workspace emulator: both calls, typed
// errors, plan mode, the environment read once per instance, and what a host fault does.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadAgent, replacingAgent, workspaceEnv } from "../agent.js";
import { TOKEN, fullPayload, startEmulator } from "./emulator.js";

const here = dirname(fileURLToPath(import.meta.url));
let emu;
let instantiateAgent;

before(async () => {
  emu = await startEmulator();
  instantiateAgent = await loadAgent();
});
after(() => emu?.stop());

const env = (overrides = {}) => workspaceEnv({ host: emu.url, token: TOKEN, ...overrides });

/** Imports whose environment reads call `counted`, and whose requests `allow()` may refuse
 * the way preview2-shim does (a bare string thrown from outgoing-handler.handle). */
const watched =
  ({ counted = () => {}, allow = () => true }) =>
  (imports) => {
    const environment = imports["wasi:cli/environment"];
    const outgoing = imports["wasi:http/outgoing-handler"];
    return {
      ...imports,
      "wasi:cli/environment": {
        ...environment,
        getEnvironment: () => (counted(), environment.getEnvironment()),
      },
      "wasi:http/outgoing-handler": {
        handle(request, options) {
          if (!allow()) throw "access-denied";
          return outgoing.handle(request, options);
        },
      },
    };
  };

/** The ComponentError payload `{tag, val}` a call throws. */
function failure(call) {
  try {
    call();
  } catch (e) {
    assert.ok(e?.payload?.tag, `not a ComponentError: ${e}`);
    return e.payload;
  }
  assert.fail("the call succeeded");
}

describe("calls", () => {
  test("predict submits a run and answers its id and link", async () => {
    const agent = await instantiateAgent({ env: env() });
    const result = agent.predict(JSON.stringify(fullPayload("node_predict")));
    assert.equal(typeof result.runId, "bigint");
    assert.ok(result.runId > 0n);
    assert.equal(result.plan, undefined);
    const run = await emu.api(`/api/2.2/jobs/runs/get?run_id=${result.runId}`);
    assert.equal(run.status, 200);
    assert.equal(run.body.run_name, "sdp-agent: node_predict");
    assert.equal(result.runUrl, run.body.run_page_url);
  });

  test("run writes the source, creates the pipeline and starts an update", async () => {
    const agent = await instantiateAgent({ env: env() });
    const payload = fullPayload("node_run");
    const result = agent.run(JSON.stringify(payload));
    assert.match(result.message, /Created serverless pipeline 'node_run'/);
    assert.equal(result.serviceUrl, `${emu.url}/pipelines/${result.pipelineId}`);
    const pipeline = await emu.api(`/api/2.0/pipelines/${result.pipelineId}`);
    assert.equal(pipeline.body.spec.name, "node_run");
    const file = await emu.api(
      `/api/2.0/workspace/get-status?path=${encodeURIComponent(payload.workspace_file_paths[0])}`,
    );
    assert.equal(file.status, 200);
    assert.ok(result.updateId.length > 0);
  });

  test("the example script transpiles the component and prints one JSON line", async () => {
    const script = resolve(here, "../main.js");
    const childEnv = { ...process.env, DATABRICKS_HOST: emu.url, DATABRICKS_TOKEN: TOKEN };
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [script, "run", JSON.stringify(fullPayload("node_script"))],
      { env: childEnv },
    );
    const result = JSON.parse(stdout);
    assert.equal((await emu.api(`/api/2.0/pipelines/${result.pipelineId}`)).status, 200);
    const bad = await promisify(execFile)(process.execPath, [script, "predict", "{}"], {
      env: childEnv,
    }).catch((e) => e);
    assert.equal(bad.code, 1);
    assert.equal(JSON.parse(bad.stdout).error.tag, "invalid-payload");
  });

  test("dry_run plans the writes and the workspace gets none", async () => {
    const agent = await instantiateAgent({ env: env() });
    const payload = { ...fullPayload("node_planned"), dry_run: true };
    const result = agent.run(JSON.stringify(payload));
    assert.deepEqual(
      result.plan.map((c) => `${c.method} ${c.path}`),
      [
        "POST /api/2.0/workspace/mkdirs",
        "POST /api/2.0/workspace/import",
        "POST /api/2.0/pipelines",
        "GET /api/2.0/pipelines/<pipeline_id>",
        "POST /api/2.0/pipelines/<pipeline_id>/updates",
        "GET /api/2.0/pipelines/<pipeline_id>",
        "POST /api/2.0/pipelines/<pipeline_id>/updates",
      ],
    );
    assert.equal(JSON.parse(result.plan[2].body).name, "node_planned");
    // The written source is validated before the real update.
    assert.deepEqual(JSON.parse(result.plan[4].body), { validate_only: true });
    assert.deepEqual(JSON.parse(result.plan[6].body), { full_refresh: true });
    assert.equal(result.pipelineId, "<pipeline_id>");
    const found = await emu.api(
      `/api/2.0/pipelines?filter=${encodeURIComponent("name LIKE 'node_planned'")}`,
    );
    assert.deepEqual(found.body.statuses ?? [], []);
    const file = await emu.api(
      `/api/2.0/workspace/get-status?path=${encodeURIComponent(payload.workspace_file_paths[0])}`,
    );
    assert.equal(file.status, 404);
  });
});

describe("typed errors", () => {
  test("invalid-payload lists every field", async () => {
    const agent = await instantiateAgent({ env: env() });
    const { tag, val } = failure(() =>
      agent.predict(JSON.stringify({ catalog: 5, wait: "yes", runner_path: "/x.py" })),
    );
    assert.equal(tag, "invalid-payload");
    const paths = val.map((f) => f.path).sort();
    assert.deepEqual(paths, ["catalog", "claude_endpoint", "question", "wait"]);
    assert.ok(val.every((f) => f.message.length > 0));
  });

  test("a refused token is upstream 401, and the instance still works", async () => {
    const agent = await instantiateAgent({ env: env({ token: "dapi-wrong" }) });
    const { tag, val } = failure(() => agent.predict(JSON.stringify(fullPayload("node_401"))));
    assert.equal(tag, "upstream");
    assert.equal(val.status, 401);
    assert.equal(val.request, "POST /api/2.2/jobs/runs/submit");
    // A typed error is an ordinary return: the same instance takes the next call.
    assert.equal(failure(() => agent.predict("[]")).tag, "invalid-payload");
  });

  test("an unreachable workspace is transport", async () => {
    const agent = await instantiateAgent({ env: env({ host: "http://127.0.0.1:9" }) });
    const { tag, val } = failure(() => agent.predict(JSON.stringify(fullPayload("node_down"))));
    assert.equal(tag, "transport");
    assert.match(val, /^POST \/api\/2\.2\/jobs\/runs\/submit: /);
  });
});

describe("instances", () => {
  test("the environment is read once per instance", async () => {
    let reads = 0;
    const imports = watched({ counted: () => reads++ });
    const agent = await instantiateAgent({ env: env(), imports });
    agent.predict(JSON.stringify(fullPayload("node_env_1")));
    agent.predict(JSON.stringify(fullPayload("node_env_2")));
    assert.equal(reads, 1);
  });

  test("a host exception mid-call leaves the instance unusable; a new one works", async () => {
    let deny = true;
    const config = { env: env(), imports: watched({ allow: () => !deny }) };
    const raw = await instantiateAgent(config);
    const payload = JSON.stringify(fullPayload("node_fault"));
    assert.throws(() => raw.predict(payload), TypeError);
    deny = false;
    assert.throws(() => raw.predict(payload), /unreachable/);
    assert.throws(() => raw.predict(payload), /cannot enter component instance/);

    deny = true;
    const agent = replacingAgent(instantiateAgent, config);
    await assert.rejects(agent.predict(payload), TypeError);
    deny = false;
    const result = await agent.predict(payload);
    assert.ok(result.runId > 0n);
    // Typed errors keep the instance.
    await assert.rejects(agent.predict("{}"), (e) => e.payload.tag === "invalid-payload");
    assert.ok((await agent.run(JSON.stringify(fullPayload("node_after_fault")))).pipelineId);
  });
});
