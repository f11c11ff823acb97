"""The data-quality counts after a completed run on sdp-emulator's local engine: each
expectation's passed, failed and dropped rows over its dataset's input, read again as a batch."""

import json
import re
from pathlib import Path

import sdp_api
from sdp_local import SOURCES, LocalEngineError, read_files

# String literals, blanked before a condition is searched for calls and subqueries.
_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_SELECT = re.compile(r"\bselect\b", re.IGNORECASE)


def _spec():
    """The SQL datasets' expectations and the views standing for `read_files` (prepare.rs)."""
    spec_path = Path("checks.json")
    return json.loads(spec_path.read_text()) if spec_path.exists() else {}


def _all_expectations():
    spec = _spec()
    found = [(c["dataset"], e) for c in spec.get("checks", []) for e in c["expectations"]]
    found += [(c["dataset"], e) for c in sdp_api.CHECKS for e in c["expectations"]]
    return found


def check_conditions():
    """The documented rule Spark does not enforce: an expectation's constraint is evaluated row
    by row, so it may not hold a subquery (Spark would run one). User-defined functions, the
    rule's other half, cannot reach a constraint here: registering one in a pipeline is
    already refused (`SESSION_MUTATION_IN_DECLARATIVE_PIPELINE`)."""
    for dataset, e in _all_expectations():
        if _SELECT.search(_STRINGS.sub("''", e["condition"])):
            raise LocalEngineError(
                "EXPECTATION_CONDITION_NOT_ALLOWED",
                f"The expectation '{e['name']}' of {dataset} holds a subquery: a constraint is a "
                "condition on each row's own columns (no subqueries, no user-defined functions).",
            )


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
    spec = _spec()
    checks, views = spec.get("checks", []), spec.get("views", [])
    if not checks and not sdp_api.CHECKS:
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
    found += [(c["dataset"], c["function"], c["expectations"]) for c in sdp_api.CHECKS]
    for dataset, input_rows, expectations in found:
        try:
            df = input_rows()
            if df.isStreaming:
                emit("log", message=f"The data quality of {dataset} is not counted: its input is a stream")
                continue
            emit("quality", dataset=dataset, **count(df, expectations))
        except Exception as e:
            emit("log", message=f"The data quality of {dataset} could not be counted: {e}")
