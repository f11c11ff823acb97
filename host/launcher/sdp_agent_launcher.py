"""sdp-agent launcher: the Python file a Databricks job runs to execute `sdp-agent run`.

`predict` submits a one-time Jobs run whose task is
``spark_python_task {python_file: <this file>, parameters: [<base64 payload>]}``. On the
cluster this script:

1. takes ``sys.argv[1]``, the base64 of the payload JSON (further parameters, if any, are passed
   to ``sdp-agent`` as global options, e.g. ``--timeout 1800``);
2. finds the ``sdp-agent`` binary for the machine's CPU (``platform.machine()``: x86_64/amd64 ->
   ``x86_64``, aarch64/arm64 -> ``aarch64``), in order: ``$SDP_AGENT_BIN``;
   ``sdp-agent-<arch>`` then ``sdp-agent`` next to this file; ``sdp-agent-<arch>`` in the
   volume folder named by ``sdp_agent_deploy.json`` next to this file (``sdp-agent deploy``
   writes it); ``/Workspace/Shared/sdp-agent/bin/sdp-agent``; ``sdp-agent`` on ``PATH``.
   Workspace and volume files often lack the exec bit (or live on a noexec mount), so such a
   binary is copied to a temp dir and made executable;
3. resolves the workspace URL and a token: ``$DATABRICKS_HOST`` / ``$DATABRICKS_TOKEN`` when set,
   else the Databricks runtime's notebook context (``apiUrl`` / ``apiToken``, the run identity's
   short-lived token), else ``databricks.sdk.core.Config()`` when the SDK is installed;
4. runs ``sdp-agent [options] run -- <base64>`` with host and token in the child's environment
   only, copies its stdout (one JSON line) and stderr (logs) to this process's, and exits with
   the child's exit status (0 success, 1 failure, 2 usage).

``sdp_agent_deploy.json`` may also name ``claude_endpoint``, used as ``CLAUDE_ENDPOINT_NAME``
when the environment sets none.

It exits 2 with a message on stderr when the payload argument, the binary or the workspace
host is missing, or when the binary cannot be executed on this machine (wrong CPU). Python 3 standard library only; databricks-sdk / dbutils are used when present.
"""

import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import threading

BINARY_NAME = "sdp-agent"
SHARED_BINARY = "/Workspace/Shared/sdp-agent/bin/sdp-agent"
DEPLOY_SETTINGS = "sdp_agent_deploy.json"
ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


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
    path = os.path.join(this_dir(), DEPLOY_SETTINGS)
    try:
        with open(path) as f:
            settings = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        fail("cannot read %s: %s" % (path, e))
    return settings if isinstance(settings, dict) else {}


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
    found = []
    if by_arch:
        found.append(os.path.join(this_dir(), by_arch))
    found.append(os.path.join(this_dir(), BINARY_NAME))
    volume_path = settings.get("volume_path")
    if by_arch and volume_path:
        found.append(os.path.join(volume_path, by_arch))
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


def from_runtime_context():
    """(host, token) from the Databricks runtime's notebook context, or (None, None)."""
    try:
        dbutils = globals().get("dbutils")
        if dbutils is None:
            from pyspark.dbutils import DBUtils  # only on Databricks clusters
            from pyspark.sql import SparkSession

            dbutils = DBUtils(SparkSession.builder.getOrCreate())
        context = dbutils.notebook.entry_point.getDbutils().notebook().getContext()
        host = context.apiUrl().getOrElse(None)
        token = context.apiToken().getOrElse(None)
        return host, token
    except Exception:  # not on a cluster, or an older runtime without these accessors
        return None, None


def from_sdk():
    """(host, token) from databricks-sdk's unified auth, or (None, None)."""
    try:
        from databricks.sdk.core import Config

        config = Config()
        headers = config.authenticate() or {}
        auth = headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        return config.host, token
    except Exception:
        return None, None


def same_host(a, b):
    def bare(url):
        url = url.strip().lower()
        url = url.split("://", 1)[-1]
        return url.split("/", 1)[0]

    return bare(a) == bare(b)


def resolve_credentials():
    """Environment first; the runtime fills in what is missing, for the same host only."""
    env_host = os.environ.get("DATABRICKS_HOST") or None
    env_token = os.environ.get("DATABRICKS_TOKEN") or None
    if env_host and env_token:
        return env_host, env_token
    # Only a Databricks runtime has a context to ask; elsewhere the SDK's auth probing can
    # stall for minutes (metadata services, CLI), so it is not tried.
    if not os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return env_host, env_token
    for source in (from_runtime_context, from_sdk):
        host, token = source()
        if host and (env_host is None or same_host(host, env_host)):
            return env_host or host, env_token or token
    return env_host, env_token


def pump(source, sink):
    """Copies a child's pipe to one of our streams line by line, flushing as it goes."""
    for line in iter(source.readline, b""):
        text = line.decode("utf-8", errors="replace")
        sink.write(text)
        sink.flush()
    source.close()


def main(argv):
    if len(argv) < 2 or not argv[1].strip():
        fail("usage: sdp_agent_launcher.py <base64 payload> [sdp-agent options...]")
    payload_b64 = argv[1].strip()
    extra_options = argv[2:]

    # The binary first: a local check that needs no credentials.
    settings = deploy_settings()
    binary, temp_dir = find_binary(settings)
    try:
        host, token = resolve_credentials()
        if not host:
            fail(
                "no workspace host: set DATABRICKS_HOST, run on a Databricks cluster, or "
                "configure databricks-sdk"
            )
        env = dict(os.environ)
        env["DATABRICKS_HOST"] = host
        if settings.get("claude_endpoint") and not env.get("CLAUDE_ENDPOINT_NAME"):
            env["CLAUDE_ENDPOINT_NAME"] = settings["claude_endpoint"]
        if token:
            env["DATABRICKS_TOKEN"] = token
        else:
            sys.stderr.write("sdp-agent launcher: no token found; requests will be unauthenticated\n")
        return run_agent(binary, extra_options, payload_b64, env)
    finally:
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


def run_agent(binary, extra_options, payload_b64, env):
    # `--` keeps a URL-safe payload that starts with "-" from being read as an option.
    command = [binary] + extra_options + ["run", "--", payload_b64]
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
