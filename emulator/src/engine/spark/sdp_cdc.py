"""AUTO CDC on sdp-emulator's local engine.

Open-source Spark runs AUTO CDC flows only into tables that support MERGE (Delta Lake); its
local Parquet tables do not ([AUTOCDC_TARGET_DOES_NOT_SUPPORT_MERGE]). Locally the target is
therefore a materialized view that computes what the flow's changes amount to from the whole
source, read as a batch: for SCD type 1 the latest change of each key by its sequence (nothing
when that change is a delete), for SCD type 2 one row per version with `__START_AT` and
`__END_AT`. An incremental run on Databricks ends in the same rows as long as the source keeps
every change (what a change feed's bronze table does), out-of-order arrival included.

The query never analyses its source (a pipeline's query function may not, and on a first run the
source does not exist yet): "all columns but these" is a column regex Spark expands itself.
"""

import re

import sdp_api
from sdp_local import LocalEngineError

# Streaming tables declared with create_streaming_table, by lower-case name: registered when every
# file is loaded (`finish`), unless an AUTO CDC flow made its target of one of them.
PENDING = {}
# AUTO CDC targets already defined, by lower-case name: the flow that defines each.
CLAIMED = {}

HELPERS = ("__sdp_seq", "__sdp_deleted", "__sdp_truncated", "__sdp_tracked", "__sdp_version",
           "__sdp_start", "__sdp_end", "__sdp_rn", "__sdp_new")


def create_streaming_table(name, **kwargs):
    """Databricks' create_streaming_table: registered once every file is loaded, so that an
    AUTO CDC flow declared after it can make its target a materialized view instead."""
    PENDING[name.lower()] = (name, kwargs)


def finish():
    """After every file is loaded: the declared streaming tables no AUTO CDC flow claimed."""
    for key, (name, kwargs) in list(PENDING.items()):
        if key not in CLAIMED:
            define = sdp_api.oss_api().create_streaming_table
            define(name, **sdp_api.kept_arguments(define, kwargs))
    PENDING.clear()


def _all_but(df, excluded):
    """Every column of `df` but `excluded` (and the helpers), expanded by Spark: a regex it
    matches case-insensitively, as it matches column names."""
    alternatives = "|".join(re.escape(n) for n in [*HELPERS, *excluded])
    return df.colRegex(f"`(?!(?:{alternatives})$).+`")


def _column(value, sql):
    from pyspark.sql import Column
    from pyspark.sql import functions as F

    if value is None or isinstance(value, Column):
        return value
    return F.expr(value) if sql else F.col(value)


def _names(values, what):
    out = []
    for value in values or []:
        if not isinstance(value, str):
            raise LocalEngineError(
                "LOCAL_ENGINE_UNSUPPORTED_OPTION",
                f"AUTO CDC's {what} are column names on the local engine, not {value!r}.",
            )
        out.append(value.strip("`"))
    return out


def changes(df, spec):
    """The rows an AUTO CDC flow leaves in its target, computed from its whole source `df`.

    Only `select`, `where` and windows: Spark Connect resolves a `withColumn` child against the
    catalog at once, so the pipeline would not see the read of its own dataset and, on a rerun,
    start this flow before the source is refreshed (seen with pyspark 4.3).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys = spec["keys"]
    if spec.get("where") is not None:
        df = df.where(spec["where"])
    false = F.lit(False)
    deleted = spec.get("apply_as_deletes")
    df = df.select(
        "*",
        spec["sequence_by"].alias("__sdp_seq"),
        (false if deleted is None else F.coalesce(deleted, false)).alias("__sdp_deleted"),
    )
    truncated = spec.get("apply_as_truncates")
    if truncated is not None:
        # A truncate empties the table: only what comes after the last one counts.
        is_truncate = F.coalesce(truncated, false)
        last = F.max(F.when(is_truncate, F.col("__sdp_seq"))).over(Window.partitionBy())
        df = df.select("*", last.alias("__sdp_truncated"))
        df = df.where("__sdp_truncated IS NULL OR __sdp_seq > __sdp_truncated")

    def target(df):
        if spec.get("column_list"):
            return [F.col(f"`{c}`") for c in spec["column_list"]]
        return [_all_but(df, spec.get("except_column_list") or [])]

    if str(spec["stored_as_scd_type"]) == "1":
        latest = Window.partitionBy(*keys).orderBy(F.col("__sdp_seq").desc())
        df = df.select("*", F.row_number().over(latest).alias("__sdp_rn"))
        df = df.where("__sdp_rn = 1 AND NOT __sdp_deleted")
        return df.select(*target(df))
    # SCD type 2: a new version when a tracked column changes, the key comes back after a delete,
    # or a delete ends it; the other columns take their latest values within the version.
    if spec.get("track_history_column_list"):
        tracked = F.struct(*[F.col(f"`{c}`") for c in spec["track_history_column_list"]])
    else:
        untracked = spec.get("track_history_except_column_list") or []
        if spec.get("column_list"):
            kept = [c for c in spec["column_list"] if c.lower() not in {u.lower() for u in untracked}]
            tracked = F.struct(*[F.col(f"`{c}`") for c in kept])
        else:
            tracked = F.struct(_all_but(df, [*(spec.get("except_column_list") or []), *untracked]))
    df = df.select("*", tracked.alias("__sdp_tracked"))
    by_key = Window.partitionBy(*keys).orderBy("__sdp_seq")
    before = F.lag("__sdp_deleted").over(by_key)
    new = (
        F.col("__sdp_deleted")
        | before.isNull()
        | before
        | ~F.col("__sdp_tracked").eqNullSafe(F.lag("__sdp_tracked").over(by_key))
    )
    df = df.select("*", new.alias("__sdp_new"))
    running = by_key.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    df = df.select("*", F.sum(F.col("__sdp_new").cast("int")).over(running).alias("__sdp_version"))
    version = Window.partitionBy(*keys, "__sdp_version")
    df = df.select(
        "*",
        F.min("__sdp_seq").over(version).alias("__sdp_start"),
        F.row_number().over(version.orderBy(F.col("__sdp_seq").desc())).alias("__sdp_rn"),
    ).where("__sdp_rn = 1")
    end = F.lead("__sdp_start").over(Window.partitionBy(*keys).orderBy("__sdp_start"))
    df = df.select("*", end.alias("__sdp_end")).where("NOT __sdp_deleted")
    return df.select(
        *target(df), F.col("__sdp_start").alias("__START_AT"), F.col("__sdp_end").alias("__END_AT")
    )


def create_auto_cdc_flow(target, source, keys, sequence_by, where=None, ignore_null_updates=False,
                         apply_as_deletes=None, apply_as_truncates=None, column_list=None,
                         except_column_list=None, stored_as_scd_type=1,
                         track_history_column_list=None, track_history_except_column_list=None,
                         name=None, once=False, sql=False):
    """Databricks' create_auto_cdc_flow (and the SQL `AUTO CDC INTO`, with `sql=True`: its
    sequence and conditions are SQL text) as the materialized view `target`."""
    flow = name or target
    scd = str(stored_as_scd_type).strip()
    if scd not in ("1", "2"):
        raise LocalEngineError(
            "INVALID_SCD_TYPE",
            f"The AUTO CDC flow {flow} has stored_as_scd_type {stored_as_scd_type!r}: it is 1 or 2.",
        )
    if column_list and except_column_list:
        raise LocalEngineError(
            "AUTOCDC_MULTIPLE_COLUMN_SELECTIONS",
            f"The AUTO CDC flow {flow} names both column_list and except_column_list: give one.",
        )
    if apply_as_truncates is not None and scd == "2":
        raise LocalEngineError(
            "AUTOCDC_TRUNCATE_NOT_SUPPORTED_FOR_SCD2",
            f"The AUTO CDC flow {flow}: APPLY AS TRUNCATE WHEN is only supported for SCD type 1.",
        )
    if ignore_null_updates:
        raise LocalEngineError(
            "LOCAL_ENGINE_UNSUPPORTED_OPTION",
            f"The AUTO CDC flow {flow}: IGNORE NULL UPDATES (ignore_null_updates) has no "
            "counterpart on the local Spark engine.",
        )
    if once:
        raise LocalEngineError(
            "LOCAL_ENGINE_UNSUPPORTED_OPTION",
            f"The AUTO CDC flow {flow}: once=True has no counterpart on the local Spark engine.",
        )
    if not keys:
        raise LocalEngineError(
            "AUTOCDC_MISSING_KEYS", f"The AUTO CDC flow {flow} names no KEYS."
        )
    key = target.split(".")[-1].strip("`").lower()
    if key in CLAIMED:
        raise LocalEngineError(
            "LOCAL_ENGINE_UNSUPPORTED_OPTION",
            f"The AUTO CDC flows {CLAIMED[key]} and {flow} both write {target}: the local Spark "
            "engine runs one AUTO CDC flow per target.",
        )
    CLAIMED[key] = flow
    spec = {
        "keys": _names(keys, "keys"),
        "sequence_by": _column(sequence_by, sql),
        "where": _column(where, True),
        "apply_as_deletes": _column(apply_as_deletes, True),
        "apply_as_truncates": _column(apply_as_truncates, True),
        "column_list": _names(column_list, "column_list"),
        "except_column_list": _names(except_column_list, "except_column_list"),
        "stored_as_scd_type": scd,
        "track_history_column_list": _names(track_history_column_list, "track_history_column_list"),
        "track_history_except_column_list": _names(
            track_history_except_column_list, "track_history_except_column_list"
        ),
    }
    declared = PENDING.get(key, (target, {}))[1]

    def query():
        return changes(sdp_api.session().read.table(source), spec)

    define = sdp_api.oss_api().materialized_view
    options = sdp_api.kept_arguments(define, {k: v for k, v in declared.items() if k != "name"})
    define(name=target.split(".")[-1].strip("`"), **options)(query)


apply_changes = create_auto_cdc_flow
