"""Runs one Spark Declarative Pipelines update for sdp-emulator and reports it as JSON lines.

Started as `python driver.py <mode> ...` in the pipeline's private directory (beside its
spark-pipeline.yml) with SPARK_REMOTE naming the engine's Spark Connect server, doing what
pyspark's own cli.py does for `spark-pipelines`. Every line meant for the emulator starts with "@@sdp " and is one JSON
object: {"kind": "log"|"event"|"table"|"error"|"done", ...}. Spark's own output is left as is.
Arguments: mode (dry-run = validate only, run = incremental, full-refresh), then the datasets to
refresh and to fully refresh, comma-separated (empty = all).
"""

import json
import sys
from pathlib import Path

import pyspark.pipelines.cli as cli
import sdp_api
import sdp_cdc
import sdp_local
import sdp_graph
import sdp_names
import sdp_quality
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession
from pyspark.pipelines.graph_element_registry import graph_element_registration_context
from pyspark.pipelines.spark_connect_graph_element_registry import (
    SparkConnectGraphElementRegistry,
)
from pyspark.pipelines.spark_connect_pipeline import create_dataflow_graph, start_run


def emit(kind, **fields):
    # One write per line: the checks after a run emit from several threads.
    sys.stdout.write("@@sdp " + json.dumps({"kind": kind, **fields}) + "\n")
    sys.stdout.flush()


def shape(df):
    """Rows, columns and each plain column's count of distinct non-null values (one job), so
    checks after a run (`sdp-agent eval`) can tell whether a key column is unique."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, MapType, StructType

    plain = [
        f.name
        for f in df.schema.fields
        if not isinstance(f.dataType, (ArrayType, MapType, StructType))
    ]
    counts = [F.count_distinct(F.col(f"`{name}`")) for name in plain]
    first = df.agg(F.count(F.lit(1)), *counts).first()
    return {
        "rows": first[0],
        "columns": df.columns,
        "distinct": {name: first[i + 1] for i, name in enumerate(plain)},
    }


def log(message):
    # cli.py names the file it is loading only in this log line: the emulator needs it to say
    # which file a parse error is in.
    emit("log", message=str(message))


def keep_server_classes():
    """Spark Connect's errors name the server's exception classes (the JVM's, most specific
    first), which the Python exception it builds drops: kept on it, so the event reports the
    engine's class, as a workspace's event log does."""
    import pyspark.errors.exceptions.connect as connect

    convert = connect._convert_exception

    def converting(*args, **kwargs):
        e = convert(*args, **kwargs)
        classes = kwargs.get("classes", args[0] if args else None)
        if classes:
            try:
                e.sdp_server_classes = list(classes)
            except AttributeError:
                pass
        return e

    connect._convert_exception = converting


def class_name(e):
    """The engine's class for `e`: the server's, else Python's (builtins unqualified); the
    emulator's own refusals stand for Spark's analysis errors."""
    classes = getattr(e, "sdp_server_classes", None)
    if classes:
        return classes[0]
    if isinstance(e, sdp_local.LocalEngineError):
        return "org.apache.spark.sql.AnalysisException"
    module = type(e).__module__
    return type(e).__name__ if module == "builtins" else f"{module}.{type(e).__name__}"


def error_fields(e):
    fields = {"class_name": class_name(e), "message": str(e)}
    if isinstance(e, sdp_local.LocalEngineError):
        fields["condition"] = e.condition
    if isinstance(e, PySparkException):
        fields["condition"] = e.getCondition()
        fields["sql_state"] = e.getSqlState()
    return fields


def after_the_run(spark, database):
    """Each table's shape and the expectations' counts: small jobs, run side by side (their
    latency, not the machine, bounds them)."""
    from concurrent.futures import ThreadPoolExecutor

    tables = [
        t.name
        for t in spark.catalog.listTables(database)
        if not t.isTemporary and t.tableType != "VIEW"
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        quality = pool.submit(sdp_quality.quality, spark, database, emit)
        shapes = [(name, pool.submit(shape, spark.table(f"`{database}`.`{name}`"))) for name in tables]
        for name, found in shapes:
            emit("table", name=name, **found.result())
        quality.result()


def main():
    mode = sys.argv[1]
    assert mode in ("dry-run", "run", "full-refresh"), mode
    refresh = [n for n in sys.argv[2].split(",") if n] if len(sys.argv) > 2 else []
    full_refresh = [n for n in sys.argv[3].split(",") if n] if len(sys.argv) > 3 else []
    cli.log_with_curr_timestamp = log
    keep_server_classes()
    spec_path = Path("spark-pipeline.yml").resolve()
    spec = cli.load_pipeline_spec(spec_path)
    builder = SparkSession.builder.config("spark.sql.connect.serverStacktrace.enabled", "false")
    # The run checks its flows' states every `pollingInterval` whole seconds (1 by default),
    # a second per stage of a small pipeline; 0 checks continuously (yielding), which costs
    # about a second of CPU per update. The pipeline's configuration may set it back.
    builder = builder.config("spark.sql.pipelines.execution.streamstate.pollingInterval", "0")
    for key, value in spec.configuration.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    sdp_api.SESSION = spark
    sdp_local.install()
    sdp_api.install_pipelines_api()
    sdp_api.install_projections()
    sdp_api.install_local_rows()
    sdp_names.install_table_names()
    sdp_graph.install()
    try:
        if spec.database:
            # The open-source catalog does not create the target schema; a workspace does. Its
            # tables' files stay in the pipeline's directory.
            location = Path("warehouse", f"{spec.database}.db").resolve()
            spark.sql(f"CREATE DATABASE IF NOT EXISTS `{spec.database}` LOCATION '{location}'")
        sdp_names.register_tables(spark)
        graph = create_dataflow_graph(
            spark,
            default_catalog=spec.catalog,
            default_database=spec.database,
            sql_conf=spec.configuration,
        )
        registry = SparkConnectGraphElementRegistry(spark, graph)
        cli.register_definitions(spec_path, registry, spec, spark, graph)
        with graph_element_registration_context(registry):
            sdp_cdc.finish()
        sdp_quality.check_conditions()
        results = start_run(
            spark,
            graph,
            full_refresh=full_refresh or None,
            full_refresh_all=mode == "full-refresh",
            refresh=refresh or None,
            dry=mode == "dry-run",
            storage=spec.storage,
        )
        for result in results:
            if "pipeline_event_result" in result:
                event = result["pipeline_event_result"].event
                emit("event", timestamp=event.timestamp.ToJsonString(), message=event.message)
        sdp_graph.emit_flows(spark, emit)
        if mode != "dry-run":
            after_the_run(spark, spec.database)
        emit("done")
    except Exception as e:  # every failure is reported, then the exit status says it failed
        emit("error", **error_fields(e))
        sys.exit(1)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
