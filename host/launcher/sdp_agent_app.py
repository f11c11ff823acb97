"""sdp-agent as a Databricks App: the command of the app.yaml that `sdp-agent deploy` writes.

The app's container has Python but not our binary, and app source files are capped at 10 MB,
so this script:

1. picks the binary for this machine (``platform.machine()``: x86_64/amd64 -> ``x86_64``,
   aarch64/arm64 -> ``aarch64``);
2. downloads ``$SDP_AGENT_VOLUME_PATH/sdp-agent-<arch>`` with the Files API
   (``GET /api/2.0/fs/files/Volumes/...``) as the app's service principal: OAuth M2M with the
   ``DATABRICKS_HOST`` / ``DATABRICKS_CLIENT_ID`` / ``DATABRICKS_CLIENT_SECRET`` the platform
   injects (``POST /oidc/v1/token``, client credentials, scope ``all-apis``);
3. makes a private executable copy and replaces itself with
   ``sdp-agent serve --listen 0.0.0.0:$DATABRICKS_APP_PORT [arguments of this script]``.
   The environment passes through: the host and client credentials (``sdp-agent`` does its
   own OAuth M2M), ``SDP_AGENT_JOB_ID`` (predict starts that job) and ``CLAUDE_ENDPOINT_NAME``.

It exits 2 with one line on stderr naming what is missing or what failed. Standard library only.
"""

import base64
import json
import os
import platform
import stat
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
TIMEOUT_SECONDS = 120


def fail(message):
    sys.stderr.write("sdp-agent app: %s\n" % message)
    sys.stderr.flush()
    sys.exit(2)


def required(name):
    value = os.environ.get(name, "").strip()
    if not value:
        fail("%s is not set (the Databricks Apps runtime and app.yaml set it)" % name)
    return value


def workspace_url():
    host = required("DATABRICKS_HOST").rstrip("/")
    # Apps inject the bare host name; a scheme is kept when given (e.g. a local emulator).
    return host if "://" in host else "https://" + host


def oauth_token(url):
    client_id = required("DATABRICKS_CLIENT_ID")
    secret = required("DATABRICKS_CLIENT_SECRET")
    basic = base64.b64encode(("%s:%s" % (client_id, secret)).encode()).decode()
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "all-apis"})
    request = urllib.request.Request(
        url + "/oidc/v1/token",
        data=form.encode(),
        headers={
            "Authorization": "Basic " + basic,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            return json.load(answer)["access_token"]
    except (urllib.error.URLError, KeyError, ValueError) as e:
        fail("the OAuth token request for client %s failed: %s" % (client_id, e))


def download(url, token, volume_file):
    quoted = urllib.parse.quote(volume_file)
    request = urllib.request.Request(
        url + "/api/2.0/fs/files" + quoted, headers={"Authorization": "Bearer " + token}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            return answer.read()
    except urllib.error.URLError as e:
        fail("downloading %s failed: %s" % (volume_file, e))


def main(argv):
    machine = platform.machine()
    arch = ARCHES.get(machine.lower())
    if arch is None:
        fail("no sdp-agent build for this machine (%s); builds exist for x86_64 and aarch64" % machine)
    volume_path = required("SDP_AGENT_VOLUME_PATH").rstrip("/")
    port = required("DATABRICKS_APP_PORT")
    url = workspace_url()
    volume_file = "%s/sdp-agent-%s" % (volume_path, arch)
    data = download(url, oauth_token(url), volume_file)
    target = os.path.join(tempfile.mkdtemp(prefix="sdp-agent-app-"), "sdp-agent")
    with open(target, "wb") as f:
        f.write(data)
    os.chmod(target, stat.S_IRUSR | stat.S_IXUSR)
    command = [target, "serve", "--listen", "0.0.0.0:" + port] + argv[1:]
    sys.stderr.write("sdp-agent app: starting %s (%s, %d bytes)\n" % (volume_file, machine, len(data)))
    sys.stderr.flush()
    try:
        os.execv(target, command)
    except OSError as e:
        fail("cannot run %s on %s: %s" % (volume_file, machine, e))


if __name__ == "__main__":
    main(sys.argv)
