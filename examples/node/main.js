// node main.js predict|run PAYLOAD_JSON
// Calls the sdp-agent component through jco against the workspace in DATABRICKS_HOST (with
// DATABRICKS_TOKEN, and CLAUDE_ENDPOINT_NAME when `run` should ask the model), and prints one
// JSON line: the result, or {"error": {"tag", "val"}} with exit status 1.

import { loadAgent, toJson, workspaceEnv } from "./agent.js";

const [call, payload] = process.argv.slice(2);
if (!["predict", "run"].includes(call) || payload === undefined) {
  console.error("usage: node main.js predict|run PAYLOAD_JSON");
  process.exit(2);
}
if (!process.env.DATABRICKS_HOST) {
  console.error("set DATABRICKS_HOST (and DATABRICKS_TOKEN) to the workspace");
  process.exit(2);
}
const instantiateAgent = await loadAgent();
const agent = await instantiateAgent({
  env: workspaceEnv({
    host: process.env.DATABRICKS_HOST,
    token: process.env.DATABRICKS_TOKEN,
    claudeEndpoint: process.env.CLAUDE_ENDPOINT_NAME,
  }),
});
const line = toJson(() => agent[call](payload));
console.log(line);
process.exitCode = JSON.parse(line).error ? 1 : 0;
