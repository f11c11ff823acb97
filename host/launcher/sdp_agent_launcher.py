"""sdp-agent launcher: the Python file a Databricks job runs to execute `sdp-agent run`.

`predict` submits a one-time Jobs run whose task is
``spark_python_task {python_file: <this file>, parameters: [<payload>, <options>...]}``. On the
cluster this script:

1. takes ``sys.argv[1]``, the base64 of the payload JSON, or ``@/Workspace/...``, a workspace
   file holding a payload too large for a job parameter (the agent reads it through the
   Workspace API); further parameters are passed to ``sdp-agent`` as global options, e.g.
   ``--timeout 4500``;
2. finds the ``sdp-agent`` binary for the machine's CPU (``platform.machine()``: x86_64/amd64 ->
   ``x86_64``, aarch64/arm64 -> ``aarch64``): ``$SDP_AGENT_BIN``; else, deployed by
   ``sdp-agent deploy`` (``sdp_agent_deploy.json`` next to this file names the version's volume
   folder), ``sdp-agent-<arch>`` in that folder and nothing else; else, in order,
   ``sdp-agent-<arch>`` then ``sdp-agent`` next to this file,
   ``/Workspace/Shared/sdp-agent/bin/sdp-agent``, ``sdp-agent`` on ``PATH``.
   Workspace and volume files often lack the exec bit (or live on a noexec mount), so such a
   binary is copied to a temp dir and made executable;
3. finds the workspace URL and the run identity's token the way the Databricks SDK's runtime
   auth does: the runtime's native credential provider, else the REPL context
   (``https://{workspaceUrl}``, token ``apiToken``), else the notebook context
   (``https://{browserHostName}``; never ``apiUrl``, a control-plane URL that IP access lists and
   Private Link block), then ``databricks.sdk.core.Config()``, then ``$DATABRICKS_HOST`` /
   ``$DATABRICKS_TOKEN``. Off a Databricks runtime only the environment is used (the binary
   resolves profiles itself). A runtime token is short-lived, so the binary does not get it
   once: this script answers the SDKs' metadata-service protocol on 127.0.0.1 (an unguessable
   path, given to the child as ``DATABRICKS_METADATA_SERVICE_URL``) and re-reads the token for
   every request, which the binary makes again before its copy expires;
4. runs ``sdp-agent [options] run [--policy @<settings>] [--caller NAME] -- <payload>`` with
   the host, the credentials and
   ``SSL_CERT_FILE`` (the CA bundle Python uses, e.g. ``REQUESTS_CA_BUNDLE``) in the child's
   environment only, copies its stdout (one JSON line) and stderr (logs) to this process's,
   and exits with the child's exit status (0 success, 1 failure, 2 usage).

``sdp_agent_deploy.json`` may also name ``claude_endpoint``, used as ``CLAUDE_ENDPOINT_NAME``
when the environment sets none, and hold the deployment's ``policy``: then ``run`` gets
``--policy @<that file>`` (it enforces the policy, and never writes into this folder). The
``--caller NAME`` option (the job's ``caller`` parameter: who asked, set by ``serve``) is
``run``'s, passed on after ``run`` when not empty.

It exits 2 with a message on stderr when the payload argument, the binary or the workspace
host is missing, or when the binary cannot be executed on this machine (wrong CPU). Python 3
standard library only; the runtime's modules and databricks-sdk are used when present.
"""

import argparse
import json
import os
import platform
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BINARY_NAME = "sdp-agent"
SHARED_BINARY = "/Workspace/Shared/sdp-agent/bin/sdp-agent"
DEPLOY_SETTINGS = "sdp_agent_deploy.json"
ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
# How long the binary may use a token before asking for it again: the runtime rotates its
# token on its own schedule, which it does not tell.
TOKEN_LIFETIME_SECS = 300
# Variables of the binary's credential resolution that must not compete with what is chosen.
CREDENTIAL_VARS = (
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_AUTH_TYPE",
    "DATABRICKS_CONFIG_PROFILE",
    "DATABRICKS_METADATA_SERVICE_URL",
)


def fail(message, code=2):
    sys.stderr.write("sdp-agent launcher: %s\n" % message)
    sys.stderr.flush()
    sys.exit(code)


def this_dir():
    try:
        return os.path.dirname(os.path.abspath(__file__))
    except NameError:  # some runners exec the file without __file__
        return os.path.dirname(os.path.abspath(sys.argv[0] or "."))


def deploy_settings():
    """What `sdp-agent deploy` wrote next to this file, or {} (not deployed that way)."""
    path = settings_path()
    try:
        with open(path) as f:
            settings = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        fail("cannot read %s: %s" % (path, e))
    return settings if isinstance(settings, dict) else {}


def settings_path():
    return os.path.join(this_dir(), DEPLOY_SETTINGS)


def split_caller(options):
    """(caller, the other options): `--caller` is `run`'s option, the others are global."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--caller", default="")
    known, rest = parser.parse_known_args(options)
    return known.caller.strip(), rest


def run_options(settings, caller):
    """`run`'s options: the deployment's policy (this folder's settings file) and the caller."""
    options = []
    if isinstance(settings.get("policy"), dict):
        options += ["--policy", "@" + settings_path()]
    if caller:
        options += ["--caller", caller]
    return options


def arch_binary_name():
    """`sdp-agent-<arch>` for this machine, or None for a CPU without a build."""
    arch = ARCHES.get(platform.machine().lower())
    return "%s-%s" % (BINARY_NAME, arch) if arch else None


def candidate_binaries(settings):
    from_env = os.environ.get("SDP_AGENT_BIN")
    if from_env:
        # An explicit choice is not second-guessed: if it is wrong, say so.
        return [from_env]
    by_arch = arch_binary_name()
    volume_path = settings.get("volume_path")
    if volume_path:
        # Deployed by `sdp-agent deploy`: exactly the version it uploaded, never an older
        # binary someone left next to this file.
        return [os.path.join(volume_path, by_arch or BINARY_NAME)]
    found = []
    if by_arch:
        found.append(os.path.join(this_dir(), by_arch))
    found.append(os.path.join(this_dir(), BINARY_NAME))
    found.append(SHARED_BINARY)
    on_path = shutil.which(BINARY_NAME)
    if on_path:
        found.append(on_path)
    return found


def executable_copy(path):
    """(path, None) when `path` can be executed as is, else (private copy, its temp dir).

    Files under /Workspace and /Volumes are always copied: their FUSE mounts may refuse exec
    even with the bit.
    """
    if os.access(path, os.X_OK) and not path.startswith(("/Workspace/", "/Volumes/")):
        return path, None
    target_dir = tempfile.mkdtemp(prefix="sdp-agent-")
    target = os.path.join(target_dir, BINARY_NAME)
    shutil.copyfile(path, target)
    os.chmod(target, stat.S_IRUSR | stat.S_IWUSR | stat.S_IXUSR)
    return target, target_dir


def find_binary(settings):
    candidates = candidate_binaries(settings)
    for path in candidates:
        if os.path.isfile(path):
            try:
                return executable_copy(path)
            except OSError as e:
                fail("cannot make %s executable: %s" % (path, e))
    fail(
        "the sdp-agent binary was not found (looked at: %s); upload a Linux build next to "
        "this launcher or to %s, or set SDP_AGENT_BIN" % (", ".join(candidates), SHARED_BINARY)
    )


def workspace_url(name):
    """`https://<name>` for a bare host name (what the runtime gives), else `name` as it is."""
    name = (name or "").strip().rstrip("/")
    if not name:
        return None
    return name if "://" in name else "https://" + name


def bearer(headers):
    """The token of an `Authorization: Bearer ...` header dict, else None."""
    auth = (headers or {}).get("Authorization", "")
    return auth[len("Bearer "):] if auth.startswith("Bearer ") else None


# Each source answers (workspace URL, function returning the current token) or (None, None).
# The function is called again for every token request, so a rotated token is picked up.


def from_native_auth():
    """The runtime's own credential provider (what databricks-sdk's runtime auth tries first)."""
    from dbruntime.sdk_credential_provider import init_runtime_native_auth

    host, header_factory = init_runtime_native_auth()
    return workspace_url(host), lambda: bearer(header_factory())


def from_repl_context():
    """The REPL context: `workspaceUrl` and `apiToken`."""
    from dbruntime.databricks_repl_context import get_context

    context = get_context()
    if context is None:
        return None, None
    return workspace_url(context.workspaceUrl), lambda: get_context().apiToken


def notebook_context():
    dbutils = globals().get("dbutils")
    if dbutils is None:
        from pyspark.dbutils import DBUtils  # only on Databricks clusters
        from pyspark.sql import SparkSession

        dbutils = DBUtils(SparkSession.builder.getOrCreate())
    return dbutils.notebook.entry_point.getDbutils().notebook().getContext()


def from_notebook_context():
    """The notebook context of older runtimes: the browser's host name, not `apiUrl`."""
    host = notebook_context().browserHostName().getOrElse(None)
    return workspace_url(host), lambda: notebook_context().apiToken().getOrElse(None)


def from_sdk():
    """databricks-sdk's unified auth (it refreshes what it hands out)."""
    from databricks.sdk.core import Config

    config = Config()
    return workspace_url(config.host), lambda: bearer(config.authenticate())


def runtime_credentials():
    """(host, token function) from the first source that has both, or (None, None)."""
    for source in (from_native_auth, from_repl_context, from_notebook_context, from_sdk):
        try:
            host, token = source()
            if host and token and token():
                return host, token
        except Exception:  # this source is not available on this runtime
            continue
    return None, None


class TokenService(ThreadingHTTPServer):
    """The SDKs' metadata-service protocol on loopback: `GET <url>` with
    `X-Databricks-Metadata-Version: 1` and `X-Databricks-Host` answers
    `{access_token, token_type, expires_on}`, the token read afresh each time."""

    daemon_threads = True

    def __init__(self, host, token):
        super().__init__(("127.0.0.1", 0), TokenHandler)
        self.workspace = host
        self.token = token
        # Another local process must not be able to ask: the path is the secret.
        self.path_secret = "/" + secrets.token_urlsafe(32)

    @property
    def url(self):
        return "http://127.0.0.1:%d%s" % (self.server_address[1], self.path_secret)


class TokenHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        if not secrets.compare_digest(self.path, server.path_secret):
            return self.answer(404, {"error": "not found"})
        if self.headers.get("X-Databricks-Metadata-Version") != "1":
            return self.answer(400, {"error": "X-Databricks-Metadata-Version must be 1"})
        asked = workspace_url(self.headers.get("X-Databricks-Host")) or ""
        if asked.lower() != server.workspace.lower():
            return self.answer(403, {"error": "this service only has a token for %s" % server.workspace})
        try:
            token = server.token()
        except Exception as e:
            return self.answer(503, {"error": "the runtime gave no token: %s" % e})
        if not token:
            return self.answer(503, {"error": "the runtime gave no token"})
        self.answer(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_on": int(time.time()) + TOKEN_LIFETIME_SECS,
            },
        )

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # stderr is the run's log: keep it to the agent's lines
        pass


def ca_bundle():
    """The CA bundle Python's HTTPS clients use here, for the binary's TLS too."""
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = os.environ.get(name)
        if value:
            return value
    return None


def pump(source, sink):
    """Copies a child's pipe to one of our streams line by line, flushing as it goes."""
    for line in iter(source.readline, b""):
        text = line.decode("utf-8", errors="replace")
        sink.write(text)
        sink.flush()
    source.close()


def main(argv):
    if len(argv) < 2 or not argv[1].strip():
        fail("usage: sdp_agent_launcher.py <base64 payload | @/Workspace/...> [sdp-agent options...]")
    payload = argv[1].strip()
    caller, extra_options = split_caller(argv[2:])

    # The binary first: a local check that needs no credentials.
    settings = deploy_settings()
    binary, temp_dir = find_binary(settings)
    service = None
    try:
        env = dict(os.environ)
        host, token = (None, None)
        # Only a Databricks runtime has a context to ask; elsewhere the SDK's auth probing can
        # stall for minutes (metadata services, CLI), so it is not tried.
        if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
            host, token = runtime_credentials()
        if host:
            service = TokenService(host, token)
            threading.Thread(target=service.serve_forever, daemon=True).start()
            for name in CREDENTIAL_VARS:
                env.pop(name, None)
            env["DATABRICKS_HOST"] = host
            env["DATABRICKS_METADATA_SERVICE_URL"] = service.url
        elif not os.environ.get("DATABRICKS_HOST"):
            fail(
                "no workspace host: run on a Databricks cluster, set DATABRICKS_HOST, or "
                "configure databricks-sdk"
            )
        if settings.get("claude_endpoint") and not env.get("CLAUDE_ENDPOINT_NAME"):
            env["CLAUDE_ENDPOINT_NAME"] = settings["claude_endpoint"]
        bundle = ca_bundle()
        if bundle:
            env["SSL_CERT_FILE"] = bundle
        return run_agent(binary, extra_options, run_options(settings, caller), payload, env)
    finally:
        if service is not None:
            service.shutdown()
            service.server_close()
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


def run_agent(binary, extra_options, options, payload, env):
    # `--` keeps a URL-safe payload that starts with "-" from being read as an option.
    command = [binary] + extra_options + ["run"] + options + ["--", payload]
    # Pipes rather than inherited descriptors: the Databricks driver captures output through
    # Python's sys.stdout / sys.stderr, which a child writing to fd 1/2 would bypass.
    try:
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:  # e.g. ENOEXEC: a build for another CPU
        fail("cannot run %s on this %s machine: %s" % (binary, platform.machine(), e))
    pumps = [
        threading.Thread(target=pump, args=(child.stdout, sys.stdout), daemon=True),
        threading.Thread(target=pump, args=(child.stderr, sys.stderr), daemon=True),
    ]
    for p in pumps:
        p.start()
    code = child.wait()
    for p in pumps:
        p.join()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
