"""What Databricks pipelines use and open-source Spark lacks, mapped for sdp-emulator's local engine.

- `/Volumes/<catalog>/<schema>/<volume>/...` paths: the emulator writes `volumes.json` (volume
  path -> local directory) into the pipeline's directory; every reader's paths go through it.
- `read_files(...)` (the SQL dialect mapping turns each call into a temporary view calling
  `read_files` here) and Python Auto Loader (`spark.readStream.format("cloudFiles")`): Spark's
  file sources with the options that have a counterpart (README "Local engine"); any other
  option is an error naming it.
"""

import json
from pathlib import Path

# Formats Spark reads without extra packages.
FORMATS = {"json", "csv", "parquet", "text", "orc", "xml", "binaryfile"}

# read_files / Auto Loader options Spark's file sources take under the same meaning (keys in
# lower case, value: Spark's spelling).
PASSED = {
    k.lower(): k
    for k in [
        "header", "sep", "delimiter", "quote", "escape", "comment", "encoding", "charset",
        "multiLine", "mode", "nullValue", "emptyValue", "nanValue", "positiveInf",
        "negativeInf", "dateFormat", "timestampFormat", "timestampNTZFormat", "lineSep",
        "locale", "ignoreLeadingWhiteSpace", "ignoreTrailingWhiteSpace", "allowComments",
        "allowUnquotedFieldNames", "allowSingleQuotes", "allowNumericLeadingZeros",
        "allowBackslashEscapingAnyCharacter", "allowNonNumericNumbers",
        "allowUnquotedControlChars", "prefersDecimal", "dropFieldIfAllNull",
        "enforceSchema", "maxColumns", "maxCharsPerColumn", "unescapedQuoteHandling",
        "samplingRatio", "pathGlobFilter", "recursiveFileLookup", "modifiedAfter",
        "modifiedBefore", "mergeSchema", "datetimeRebaseMode", "int96RebaseMode",
        "wholeText", "rowTag", "rootTag", "valueTag", "attributePrefix", "excludeAttribute",
        "ignoreSurroundingSpaces", "ignoreNamespace", "maxFilesPerTrigger",
        "columnNameOfCorruptRecord", "preferDate",
    ]
}
# Accepted and without effect locally: the schema is inferred again at every update.
ACCEPTED = {"schemalocation", "schemaevolutionmode", "validateoptions"}
SPECIAL = {"format", "schema", "schemahints", "rescueddatacolumn", "inferschema",
           "infercolumntypes", "includeexistingfiles"}

_volumes = None

# The views standing for SQL read_files() calls: view -> (path, options), so the data-quality
# counts after a run can read the same files as a batch.
SOURCES = {}


class LocalEngineError(Exception):
    """An error the emulator reports like Spark's: the message starts with `[CLASS]`."""

    def __init__(self, condition, message):
        super().__init__(f"[{condition}] {message}")
        self.condition = condition


def _volume_map():
    global _volumes
    if _volumes is None:
        mapping = Path("volumes.json")
        _volumes = json.loads(mapping.read_text()) if mapping.exists() else {}
    return _volumes


def local_path(path):
    """A `/Volumes/...` path as the local file it is; other paths unchanged."""
    if not isinstance(path, str):
        return path
    stripped = path[len("dbfs:"):] if path.startswith("dbfs:/Volumes/") else path
    if not stripped.startswith("/Volumes/"):
        return path
    parts = stripped.split("/")
    if len(parts) < 5 or not all(parts[2:5]):
        raise LocalEngineError(
            "INVALID_VOLUME_PATH",
            f"{path} is not /Volumes/<catalog>/<schema>/<volume>/<path>.",
        )
    volume = "/".join(p.lower() for p in parts[:5])
    root = _volume_map().get(volume)
    if root is None:
        raise LocalEngineError(
            "PATH_NOT_FOUND",
            f"Path does not exist: {path} (the volume {'.'.join(parts[2:5])} does not exist). "
            "SQLSTATE: 42K03",
        )
    rest = "/".join(parts[5:])
    return "file://" + str(Path(root) / rest) if rest else "file://" + root


def _paths(path):
    if isinstance(path, (list, tuple)):
        return [local_path(p) for p in path]
    return local_path(path)


def _format_of(local):
    """read_files without `format`: the extension of the file, or of the first file in a folder."""
    target = Path(local[len("file://"):]) if local.startswith("file://") else Path(local)
    if target.is_dir():
        files = sorted(p for p in target.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
        target = files[0] if files else target
    suffix = target.suffix.lower().lstrip(".")
    return {"jsonl": "json", "ndjson": "json", "txt": "text"}.get(suffix, suffix)


def _split_top(text):
    depth, start, parts = 0, 0, []
    for i, c in enumerate(text):
        if c in "(<":
            depth += 1
        elif c in ")>":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _infer_schema(reader, local):
    """Auto Loader infers a stream's schema from the files; Spark's stream sources need it
    given. A pipeline's query function may not analyse anything (the server refuses requests
    carrying the flow's thread-local context), so the inference runs on a thread of its own.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: reader.load(local).schema).result()


def read_files(spark, path, options, streaming, schema=None, what="read_files"):
    """Spark's file source for a read_files call or an Auto Loader stream."""
    passed, hints, rescued, infer = {}, [], "_rescued_data", None
    fmt = None
    for key, value in options.items():
        name = key.lower()
        if name.startswith("cloudfiles."):
            name = name[len("cloudfiles."):]
        value = "" if value is None else str(value)
        if name in PASSED:
            passed[PASSED[name]] = value
        elif name == "format":
            fmt = value.lower()
        elif name == "schema":
            schema = value
        elif name == "schemahints":
            hints.extend(_split_top(value))
        elif name == "rescueddatacolumn":
            rescued = value or None
        elif name in ("inferschema", "infercolumntypes"):
            infer = value.lower() == "true"
        elif name == "includeexistingfiles" and value.lower() == "true":
            pass
        elif name in ACCEPTED:
            pass
        else:
            raise LocalEngineError(
                "LOCAL_ENGINE_UNSUPPORTED_OPTION",
                f"The {what} option '{key}' has no counterpart on the local Spark engine "
                "(README, \"Local engine\", lists the options that map).",
            )
    local = _paths(path)
    fmt = fmt or _format_of(local if isinstance(local, str) else local[0])
    if fmt not in FORMATS:
        raise LocalEngineError(
            "LOCAL_ENGINE_UNSUPPORTED_OPTION",
            f"The {what} format '{fmt}' has no counterpart on the local Spark engine "
            "(json, csv, parquet, text, orc, xml, binaryFile).",
        )
    if fmt == "csv":
        passed.setdefault("inferSchema", "false" if infer is False else "true")
    if fmt == "json" and infer is False:
        passed.setdefault("primitivesAsString", "true")
    if isinstance(schema, str) and schema.lstrip().startswith("{"):
        from pyspark.sql.types import StructType

        schema = StructType.fromJson(json.loads(schema))
    batch = spark.read.format(fmt).options(**passed)
    if schema:
        batch = batch.schema(schema)
    if streaming:
        stream_schema = schema or _infer_schema(batch, local)
        df = spark.readStream.format(fmt).options(**passed).schema(stream_schema).load(local)
    else:
        df = batch.load(local)
    if hints:
        from pyspark.sql import functions as F

        for hint in hints:
            column, _, kind = hint.partition(" ")
            df = df.withColumn(column.strip("`"), F.col(column).cast(kind.strip()))
    if rescued and not schema and fmt in ("json", "csv", "parquet", "xml"):
        from pyspark.sql import functions as F

        # What failed to parse would land here on Databricks; Spark's readers have no such
        # column, so it is always null locally.
        df = df.withColumn(rescued, F.lit(None).cast("string"))
    return df


def install():
    """Routes every reader's paths through the volume map and `cloudFiles` to read_files."""
    from pyspark.sql.connect.readwriter import DataFrameReader
    from pyspark.sql.connect.streaming.readwriter import DataStreamReader

    batch_load = DataFrameReader.load
    stream_load = DataStreamReader.load

    def load_batch(self, path=None, format=None, schema=None, **options):
        if format is not None:
            self.format(format)
        if (getattr(self, "_format", None) or "").lower() == "cloudfiles":
            raise LocalEngineError(
                "UNSUPPORTED_STREAMING_OPERATION",
                "Auto Loader (cloudFiles) is a streaming source: use spark.readStream.",
            )
        return batch_load(self, _paths(path), None, schema, **options)

    def load_stream(self, path=None, format=None, schema=None, **options):
        if format is not None:
            self.format(format)
        if (self._format or "").lower() == "cloudfiles":
            self.options(**options)
            return read_files(
                self._client, path, dict(self._options), streaming=True,
                schema=schema or self._schema or None, what="Auto Loader",
            )
        return stream_load(self, _paths(path), None, schema, **options)

    DataFrameReader.load = load_batch
    DataStreamReader.load = load_stream


# The pipelines API as Databricks has it: `import dlt` and `from pyspark import pipelines as dp`
# both work, `@table` over a batch query defines a materialized view (open-source Spark makes
# every @table a streaming table), and the expectation decorators are evaluated.

# Python datasets with expectations, for the data-quality counts after a run:
# {"dataset": name, "function": the undecorated query function, "expectations": [...]}.
CHECKS = []


def _reads_a_stream(message):
    """Whether a Spark Connect plan reads any source as a stream."""
    if getattr(message, "DESCRIPTOR", None) is None:
        return False
    for field, value in message.ListFields():
        if field.name == "is_streaming" and value is True:
            return True
        if field.message_type is None:
            continue
        repeated = getattr(field, "is_repeated", None)
        if repeated is None:
            repeated = field.label == field.LABEL_REPEATED
        values = value if repeated else [value]
        if any(_reads_a_stream(v) for v in values):
            return True
    return False


def _is_streaming(df):
    return _reads_a_stream(df._plan.plan(df._session.client))


def quality_condition(dataset, expectations):
    """One filter for a dataset's expectations: FAIL UPDATE ones raise (evaluated first, so a
    row violating a DROP and a FAIL rule fails the update), warn-only ones are analysed (a
    wrong column fails) and keep every row, DROP ROW ones keep the rows that meet them."""
    fails = [
        "assert_true(coalesce(({c}), false), 'EXPECTATION_VIOLATION:{d}:{n}') IS NULL".format(
            c=e["condition"], d=dataset.replace("'", ""), n=e["name"].replace("'", "")
        )
        for e in expectations
        if e["action"] == "fail"
    ]
    warns = [f"(({e['condition']}) IS NULL OR TRUE)" for e in expectations if e["action"] == "warn"]
    drops = [f"coalesce(({e['condition']}), false)" for e in expectations if e["action"] == "drop"]
    checked = " AND ".join(fails + warns) or "TRUE"
    kept = " AND ".join(drops) or "TRUE"
    return f"CASE WHEN {checked} THEN {kept} ELSE FALSE END"


def _with_expectations(func, expectations):
    import functools

    base = getattr(func, "_sdp_function", func)
    known = getattr(func, "_sdp_expectations", [])

    @functools.wraps(base)
    def query():
        from pyspark.sql import functions as F

        df = base()
        name = getattr(query, "_sdp_dataset", base.__name__)
        return df.where(F.expr(quality_condition(name, query._sdp_expectations)))

    query._sdp_function = base
    # Source order: a decorator above the ones already applied comes first.
    query._sdp_expectations = expectations + known
    return query


def _expect(action, many):
    def decorator_for(*args):
        if many:
            (rules,) = args
            expectations = [{"name": n, "condition": c, "action": action} for n, c in rules.items()]
        else:
            name, condition = args
            expectations = [{"name": name, "condition": condition, "action": action}]
        return lambda func: _with_expectations(func, expectations)

    return decorator_for


expect = _expect("warn", False)
expect_or_drop = _expect("drop", False)
expect_or_fail = _expect("fail", False)
expect_all = _expect("warn", True)
expect_all_or_drop = _expect("drop", True)
expect_all_or_fail = _expect("fail", True)


def _kept(define, kwargs):
    """The keyword arguments the open-source decorator takes (Databricks has more, e.g.
    `private`, `path`, `row_filter`: without effect on a local run)."""
    import inspect

    allowed = inspect.signature(define).parameters
    return {k: v for k, v in kwargs.items() if k in allowed}


def _dataset(define_for, query_function, kwargs):
    def outer(func):
        name = kwargs.get("name") or getattr(func, "__name__", "dataset")
        if getattr(func, "_sdp_expectations", None):
            func._sdp_dataset = name
            CHECKS.append({"dataset": name, "function": func._sdp_function,
                           "expectations": func._sdp_expectations})
        define = define_for(func)
        return define(**_kept(define, kwargs))(func)

    return outer(query_function) if query_function is not None else outer


def _oss():
    from pyspark.pipelines import api

    return api


def table(query_function=None, **kwargs):
    """Databricks' @table: a streaming table over a streaming query, else a materialized view."""

    def define_for(func):
        try:
            streaming = _is_streaming(func())
        except Exception:
            # Let the engine report it where it reports every query function's error.
            streaming = True
        return _oss().table if streaming else _oss().materialized_view

    return _dataset(define_for, query_function, kwargs)


def materialized_view(query_function=None, **kwargs):
    return _dataset(lambda _: _oss().materialized_view, query_function, kwargs)


def temporary_view(query_function=None, **kwargs):
    return _dataset(lambda _: _oss().temporary_view, query_function, kwargs)


view = temporary_view


def _session():
    from pyspark.sql import SparkSession

    return SparkSession.active()


def read(name):
    return _session().read.table(name)


def read_stream(name):
    return _session().readStream.table(name)


def install_pipelines_api():
    """Puts the Databricks names on `pyspark.pipelines` (what `dp` and `dlt` are)."""
    import pyspark.pipelines as dp

    oss = _oss()
    for name in ("append_flow", "create_streaming_table", "create_auto_cdc_flow", "create_sink"):
        globals()[name] = getattr(oss, name, None)
    globals()["apply_changes"] = getattr(oss, "create_auto_cdc_flow", None)
    globals()["create_target_table"] = oss.create_streaming_table
    for name in ("table", "materialized_view", "temporary_view", "view", "read", "read_stream",
                 "expect", "expect_or_drop", "expect_or_fail", "expect_all",
                 "expect_all_or_drop", "expect_all_or_fail"):
        setattr(dp, name, globals()[name])


def count(df, expectations):
    """The data-quality counts of one dataset's expectations over its input rows `df`."""
    import re

    from pyspark.sql import functions as F

    conf = df._session.conf

    def failed(condition):
        # `${key}` parameters, as the SQL parser substitutes them from the configuration.
        condition = re.sub(r"\$\{([^}]+)\}", lambda m: conf.get(m.group(1), m.group(0)), condition)
        return F.sum(F.when(F.expr(f"coalesce(({condition}), false)"), 0).otherwise(1))

    drops = [e["condition"] for e in expectations if e["action"] == "drop"]
    kept = " AND ".join(f"({c})" for c in drops) or "TRUE"
    aggregates = [F.count(F.lit(1)).alias("rows"), failed(kept).alias("dropped")]
    aggregates += [failed(e["condition"]).alias(f"e{i}") for i, e in enumerate(expectations)]
    row = df.agg(*aggregates).first()
    rows = row["rows"]
    return {
        "input_rows": rows,
        "dropped": row["dropped"] or 0,
        "expectations": [
            {"name": e["name"], "passed": rows - (row[f"e{i}"] or 0), "failed": row[f"e{i}"] or 0}
            for i, e in enumerate(expectations)
        ],
    }


def quality(spark, database, emit):
    """After a completed run: each expectation's counts over its dataset's input, read again as
    a batch (`checks.json` from the SQL mapping, CHECKS from the Python decorators)."""
    spec_path = Path("checks.json")
    spec = json.loads(spec_path.read_text()) if spec_path.exists() else {}
    checks, views = spec.get("checks", []), spec.get("views", [])
    if not checks and not CHECKS:
        return
    if database:
        spark.catalog.setCurrentDatabase(database)
    for view, (path, options) in SOURCES.items():
        read_files(spark, path, options, streaming=False).createOrReplaceTempView(view)
    pending = list(views)
    for _ in range(len(pending)):
        left = []
        for name, query in pending:
            try:
                spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW `{name}` AS {query}")
            except Exception:
                left.append((name, query))
        pending = left
    found = [(c["dataset"], lambda c=c: spark.sql(c["query"]), c["expectations"]) for c in checks]
    found += [(c["dataset"], c["function"], c["expectations"]) for c in CHECKS]
    for dataset, input_rows, expectations in found:
        try:
            df = input_rows()
            if df.isStreaming:
                emit("log", message=f"The data quality of {dataset} is not counted: its input is a stream")
                continue
            emit("quality", dataset=dataset, **count(df, expectations))
        except Exception as e:
            emit("log", message=f"The data quality of {dataset} could not be counted: {e}")


_names = None


def table_name(name):
    """A three-part table name as the local engine knows it (`names.json`, see names.rs)."""
    global _names
    if _names is None:
        mapping = Path("names.json")
        _names = json.loads(mapping.read_text()) if mapping.exists() else {}
    parts = name.split(".") if isinstance(name, str) else []
    if len(parts) != 3:
        return name
    catalog, schema, table = (p.strip("`") for p in parts)
    if catalog.lower() == _names.get("catalog"):
        return f"`{schema}`.`{table}`"
    if catalog.lower() in _names.get("others", []):
        return f"`{catalog.lower()}__{schema.lower()}`.`{table}`"
    return name


def register_tables(spark):
    """The `--data` tables, each a table over its file in its local database."""
    mapping = Path("names.json")
    tables = json.loads(mapping.read_text()).get("tables", []) if mapping.exists() else []
    for t in tables:
        options = {"path": t["path"]}
        if t["format"] == "csv":
            options.update(header="true", inferSchema="true")
        listed = ", ".join(f"{k} '{v}'" for k, v in options.items())
        spark.sql(f"CREATE DATABASE IF NOT EXISTS `{t['database']}`")
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS `{t['database']}`.`{t['table']}` "
            f"USING {t['format']} OPTIONS ({listed})"
        )


def install_table_names():
    from pyspark.sql.connect.readwriter import DataFrameReader
    from pyspark.sql.connect.streaming.readwriter import DataStreamReader

    batch_table, stream_table = DataFrameReader.table, DataStreamReader.table
    DataFrameReader.table = lambda self, name: batch_table(self, table_name(name))
    DataStreamReader.table = lambda self, name: stream_table(self, table_name(name))
