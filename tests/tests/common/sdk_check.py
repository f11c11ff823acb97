"""Checks request bodies against databricks-sdk: each must survive its dataclass unchanged
(``from_dict(body).as_dict() == body``), or, for calls whose SDK method takes keyword
arguments instead of a dataclass, use only that method's parameters and valid enum values.

MLflow's Unity Catalog registry calls are not in databricks-sdk: their bodies must parse as
MLflow's own request messages (``mlflow.protos.databricks_uc_registry_messages_pb2``, unknown
fields refused).

stdin: a JSON list of ``{"call": "METHOD /path", "body": {...}}``. Prints one line per
problem; exits 1 if there is any, 0 otherwise.
"""

import inspect
import json
import re
import sys

from databricks.sdk.service import apps, catalog, jobs, pipelines, serving, sql, workspace


def roundtrip(cls):
    def check(body):
        back = cls.from_dict(body).as_dict()
        if back != body:
            return ["%s.from_dict(...).as_dict() changed the body: %s" % (cls.__name__, json.dumps(back, sort_keys=True))]
        return []

    return check


def keywords(method, enums=None):
    params = set(inspect.signature(method).parameters) - {"self"}

    def check(body):
        problems = ["%s: not a parameter of %s" % (k, method.__qualname__) for k in body if k not in params]
        for key, enum in (enums or {}).items():
            if key in body:
                try:
                    enum(body[key])
                except ValueError:
                    problems.append("%s: %r is not a %s" % (key, body[key], enum.__name__))
        return problems

    return check


def reset(body):
    problems = keywords(jobs.JobsAPI.reset)(body)
    return problems + roundtrip(jobs.JobSettings)(body.get("new_settings", {}))


def run_now(body):
    problems = keywords(jobs.JobsAPI.run_now)(body)
    for k, v in (body.get("job_parameters") or {}).items():
        if not isinstance(v, str):
            problems.append("job_parameters.%s: not a string" % k)
    return problems


def mlflow_message(name):
    def check(body):
        from google.protobuf.json_format import ParseDict, ParseError
        from mlflow.protos import databricks_uc_registry_messages_pb2 as messages

        try:
            ParseDict(body, getattr(messages, name)())
        except ParseError as e:
            return ["not a valid MLflow %s: %s" % (name, e)]
        return []

    return check


def create_endpoint(body):
    problems = keywords(serving.ServingEndpointsAPI.create)(body)
    problems += roundtrip(serving.EndpointCoreConfigInput)(body.get("config", {}))
    for tag in body.get("tags", []):
        problems += roundtrip(serving.EndpointTag)(tag)
    return problems


def update_endpoint_config(body):
    problems = keywords(serving.ServingEndpointsAPI.update_config)({"name": None, **body})
    for entity in body.get("served_entities", []):
        problems += roundtrip(serving.ServedEntityInput)(entity)
    return problems


def patch_endpoint_tags(body):
    problems = keywords(serving.ServingEndpointsAPI.patch)({"name": None, **body})
    for tag in body.get("add_tags", []):
        problems += roundtrip(serving.EndpointTag)(tag)
    return problems


def no_body(body):
    # ModelVersionsAPI.delete(full_name, version): both in the path.
    return [] if body in (None, {}) else ["a DELETE carries no body: %s" % json.dumps(body)]


def object_permissions(entry_cls):
    """PUT/PATCH /api/2.0/permissions/{type}/{id}: the SDK's set/update_permissions body, each
    entry the type's own AccessControlRequest (so its permission level is one of the type's)."""

    def check(body):
        problems = ["%s: not a parameter of a permissions request" % k for k in body if k != "access_control_list"]
        for entry in body.get("access_control_list", []):
            # An unknown permission level is dropped by from_dict, so the round trip shows it.
            problems += roundtrip(entry_cls)(entry)
            named = [k for k in ("user_name", "group_name", "service_principal_name") if k in entry]
            if len(named) != 1:
                problems.append("%s: names %d principals, not one" % (entry_cls.__name__, len(named)))
        return problems

    return check


def uc_permissions(body):
    problems = keywords(catalog.GrantsAPI.update)({"securable_type": None, "full_name": None, **body})
    for change in body.get("changes", []):
        problems += roundtrip(catalog.PermissionsChange)(change)
    return problems


PERMISSIONS = r"(PUT|PATCH) /api/2\.0/permissions/"

CHECKS = [
    (PERMISSIONS + r"(directories|files|notebooks)/[^/]+$", object_permissions(workspace.WorkspaceObjectAccessControlRequest)),
    (PERMISSIONS + r"jobs/[^/]+$", object_permissions(jobs.JobAccessControlRequest)),
    (PERMISSIONS + r"pipelines/[^/]+$", object_permissions(pipelines.PipelineAccessControlRequest)),
    (PERMISSIONS + r"serving-endpoints/[^/]+$", object_permissions(serving.ServingEndpointAccessControlRequest)),
    (r"PATCH /api/2\.1/unity-catalog/permissions/[^/]+/[^/]+$", uc_permissions),
    (r"POST /api/2\.[12]/jobs/create$", roundtrip(jobs.JobSettings)),
    (r"POST /api/2\.[12]/jobs/reset$", reset),
    (r"POST /api/2\.[12]/jobs/run-now$", run_now),
    (r"POST /api/2\.[12]/jobs/runs/submit$", keywords(jobs.JobsAPI.submit)),
    (r"POST /api/2\.0/apps$", roundtrip(apps.App)),
    (r"PATCH /api/2\.0/apps/[^/]+$", roundtrip(apps.App)),
    (r"POST /api/2\.0/apps/[^/]+/deployments$", roundtrip(apps.AppDeployment)),
    (r"POST /api/2\.1/unity-catalog/volumes$", keywords(catalog.VolumesAPI.create, {"volume_type": catalog.VolumeType})),
    (r"POST /api/2\.0/workspace/import$", keywords(workspace.WorkspaceAPI.import_, {"format": workspace.ImportFormat})),
    (r"POST /api/2\.0/workspace/mkdirs$", keywords(workspace.WorkspaceAPI.mkdirs)),
    (r"POST /api/2\.1/unity-catalog/models$", keywords(catalog.RegisteredModelsAPI.create)),
    (r"POST /api/2\.0/mlflow/unity-catalog/model-versions/create$", mlflow_message("CreateModelVersionRequest")),
    (r"POST /api/2\.0/mlflow/unity-catalog/model-versions/finalize$", mlflow_message("FinalizeModelVersionRequest")),
    (r"POST /api/2\.0/serving-endpoints$", create_endpoint),
    (r"PUT /api/2\.0/serving-endpoints/[^/]+/config$", update_endpoint_config),
    (r"PATCH /api/2\.0/serving-endpoints/[^/]+/tags$", patch_endpoint_tags),
    (r"DELETE /api/2\.1/unity-catalog/models/[^/]+/versions/[^/]+$", no_body),
    (
        r"POST /api/2\.0/sql/statements$",
        keywords(
            sql.StatementExecutionAPI.execute_statement,
            {"format": sql.Format, "disposition": sql.Disposition, "on_wait_timeout": sql.ExecuteStatementRequestOnWaitTimeout},
        ),
    ),
]


def main():
    problems = []
    for item in json.load(sys.stdin):
        call, body = item["call"], item["body"]
        check = next((c for pattern, c in CHECKS if re.match(pattern, call)), None)
        if check is None:
            problems.append("%s: no SDK check for this call" % call)
            continue
        problems += ["%s: %s" % (call, p) for p in check(body)]
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
