"""sdp-agent as an MLflow pyfunc model: the loader module of the model `sdp-agent package-model`
writes (and `sdp-agent deploy --serve model-serving` registers).

The model directory holds no pickle: ``MLmodel`` names this module (``loader_module``), and its
``data`` folder holds the static ``sdp-agent-<arch>`` binaries. ``_load_pyfunc(data_path)``
picks the binary for this machine (``platform.machine()``: x86_64/amd64 -> ``x86_64``,
aarch64/arm64 -> ``aarch64``) and makes a private executable copy (model files are
downloaded without the exec bit). ``predict`` runs ``sdp-agent predict`` once per record with
the record as the payload and returns the answers (``{run_id, run_url}``) in order.

The binary gets this process's environment: ``DATABRICKS_HOST``, the credentials
(``DATABRICKS_CLIENT_ID``/``DATABRICKS_CLIENT_SECRET`` or ``DATABRICKS_TOKEN``, on Model
Serving from secret references), ``SDP_AGENT_JOB_ID`` (predict starts that job) and
``CLAUDE_ENDPOINT_NAME``. With several records, each is first checked in plan mode
(``--dry-run``) so that none is submitted unless all are valid. Standard library only
(MLflow itself is imported for its error type when it is there).
"""

import json
import math
import os
import platform
import shutil
import stat
import subprocess
import tempfile

ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
# Predict answers at once (it starts a job run); this bounds a stuck call.
TIMEOUT_SECONDS = 120
# Error kinds that are the caller's to fix: answered as 400, not 500.
CALLER_ERRORS = ("invalid_payload", "missing_config")


class PredictError(Exception):
    """A record the binary refused, or a failure it reported; `kind` is its error kind."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def _error(kind, message):
    """The exception to raise: MLflow's (with a 4xx error code for the caller's mistakes)."""
    try:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE
    except ImportError:
        return PredictError(kind, message)
    code = INVALID_PARAMETER_VALUE if kind in CALLER_ERRORS else INTERNAL_ERROR
    return MlflowException("%s: %s" % (kind, message), error_code=code)


def _binary(data_path):
    machine = platform.machine()
    arch = ARCHES.get(machine.lower())
    if arch is None:
        raise RuntimeError("no sdp-agent build for this machine (%s)" % machine)
    source = os.path.join(data_path, "sdp-agent-%s" % arch)
    if not os.path.isfile(source):
        raise RuntimeError("%s is missing from the model: package it for %s" % (source, machine))
    target = os.path.join(tempfile.mkdtemp(prefix="sdp-agent-model-"), "sdp-agent")
    shutil.copyfile(source, target)
    os.chmod(target, stat.S_IRUSR | stat.S_IXUSR)
    return target


def _plain(value):
    """A JSON value without what a DataFrame adds: NaN for a missing cell, 5.0 for 5."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return int(value)
    return value


def _records(model_input):
    """The payloads: one per row of a DataFrame, or a dict, or a list of dicts."""
    if hasattr(model_input, "to_json"):  # a pandas DataFrame, without importing pandas
        rows = json.loads(model_input.to_json(orient="records", date_format="iso"))
    elif isinstance(model_input, dict):
        rows = [model_input]
    else:
        rows = list(model_input)
    records = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise _error("invalid_payload", "record %d is not an object" % i)
        records.append({k: _plain(v) for k, v in row.items() if _plain(v) is not None})
    return records


class SdpAgentModel:
    def __init__(self, binary):
        self.binary = binary

    def _call(self, record, dry_run):
        command = [self.binary] + (["--dry-run"] if dry_run else []) + ["predict", "-"]
        try:
            done = subprocess.run(
                command,
                input=json.dumps(record).encode(),
                capture_output=True,
                timeout=TIMEOUT_SECONDS,
                env=dict(os.environ),
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise _error("transport", "cannot run %s on %s: %s" % (self.binary, platform.machine(), e))
        lines = done.stdout.decode("utf-8", errors="replace").strip().splitlines()
        try:
            answer = json.loads(lines[-1])
        except (IndexError, ValueError):
            stderr = done.stderr.decode("utf-8", errors="replace").strip()
            raise _error("internal", "sdp-agent exited %d without a result: %s" % (done.returncode, stderr[-500:]))
        if done.returncode != 0 or "error" in answer:
            error = answer.get("error") or {}
            raise _error(error.get("kind", "internal"), error.get("message", json.dumps(answer)))
        return answer

    def predict(self, model_input, params=None):
        records = _records(model_input)
        if len(records) > 1:
            for record in records:
                self._call(record, dry_run=True)
        return [self._call(record, dry_run=False) for record in records]


def _load_pyfunc(data_path):
    return SdpAgentModel(_binary(data_path))
