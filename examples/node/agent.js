// The sdp-agent component in Node: transpiled once by jco, instantiated per configuration.
//
// Each instance reads its environment (DATABRICKS_HOST, DATABRICKS_TOKEN, CLAUDE_ENDPOINT_NAME)
// once, at its first call: per-call configuration needs a new instance, which is cheap once the
// core modules are compiled. An instance whose call ended in anything but a ComponentError (a
// trap, or an exception thrown by a host import) is unusable: make a new one.

import { readFile, mkdtemp, writeFile, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { transpile } from "@bytecodealliance/jco";
import { WASIShim } from "@bytecodealliance/preview2-shim/instantiation";

const here = dirname(fileURLToPath(import.meta.url));

/** Where `cargo build` leaves the component, unless SDP_AGENT_COMPONENT says otherwise. */
export const defaultComponent = () =>
  process.env.SDP_AGENT_COMPONENT ??
  resolve(here, "../../target/guest-build/wasm32-wasip2/release/sdp_agent_guest.wasm");

/**
 * Transpiles the component (async instantiation, so each instance gets its own imports) and
 * compiles its core modules once.
 * @param {string} componentPath
 */
export async function loadAgent(componentPath = defaultComponent()) {
  const { files } = await transpile(await readFile(componentPath), {
    name: "sdp-agent",
    instantiation: "async",
    noTypescript: true,
    quiet: true,
  });
  const dir = await mkdtemp(join(tmpdir(), "sdp-agent-jco-"));
  for (const [name, bytes] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), bytes);
  }
  let instantiate;
  try {
    ({ instantiate } = await import(pathToFileURL(join(dir, "sdp-agent.js")).href));
  } finally {
    // Loaded: the core modules are compiled from `files` in memory, so the folder can go.
    await rm(dir, { recursive: true, force: true });
  }
  const modules = new Map();
  const getCoreModule = (name) => {
    if (!modules.has(name)) modules.set(name, WebAssembly.compile(files[name]));
    return modules.get(name);
  };

  /**
   * A new instance.
   * @param {object} config
   * @param {Record<string, string>} config.env the component's whole environment
   * @param {(imports: object) => object} [config.imports] changes the WASI imports, e.g. to
   *   put an egress policy in front of `wasi:http/outgoing-handler`
   * @returns {Promise<{predict: (payload: string) => object, run: (payload: string) => object}>}
   */
  return async function instantiateAgent({ env, imports = (i) => i }) {
    const shim = new WASIShim({ sandbox: { env } });
    const instance = await instantiate(getCoreModule, imports(shim.getImportObject()));
    return instance.agent;
  };
}

/**
 * `predict` and `run` (async) on an instance that is replaced after a call that failed with
 * anything but a ComponentError: a trap, or an exception thrown by a host import in the middle
 * of the call (preview2-shim throws a bare string for a refused request). Such an exception
 * unwinds the component's stack without letting it clean up, so its next call would trap.
 * @param {Function} instantiateAgent from `loadAgent`
 * @param {object} config as `instantiateAgent` takes it
 */
export function replacingAgent(instantiateAgent, config) {
  let current = null;
  const call = (name) => async (payload) => {
    current ??= await instantiateAgent(config);
    try {
      return current[name](payload);
    } catch (e) {
      if (!e?.payload?.tag) current = null;
      throw e;
    }
  };
  return { predict: call("predict"), run: call("run") };
}

/** The environment that points an instance at a workspace. */
export function workspaceEnv({ host, token, claudeEndpoint }) {
  const env = { DATABRICKS_HOST: host };
  if (token) env.DATABRICKS_TOKEN = token;
  if (claudeEndpoint) env.CLAUDE_ENDPOINT_NAME = claudeEndpoint;
  return env;
}

/** A result as JSON (ids are BigInt in JS), errors as `{error: {tag, val}}`. */
export function toJson(call) {
  const safe = (v) => (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER));
  const bigints = (_, v) => (typeof v !== "bigint" ? v : safe(v) ? Number(v) : String(v));
  try {
    return JSON.stringify(call(), bigints);
  } catch (e) {
    if (e?.payload?.tag) return JSON.stringify({ error: e.payload }, bigints);
    throw e;
  }
}
