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


def outside_the_flow(work):
    """`work()` on a thread of its own: a pipeline's query function may not analyse anything
    (the server refuses requests carrying the flow's thread-local context), yet Auto Loader's
    schema and a frame's columns need an analysis."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


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
        stream_schema = schema or outside_the_flow(lambda: batch.load(local).schema)
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
