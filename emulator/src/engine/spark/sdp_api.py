"""The pipelines API as Databricks has it, for sdp-emulator's local engine: `import dlt` and
`from pyspark import pipelines as dp` both work, `@table` over a batch query defines a
materialized view (open-source Spark makes every @table a streaming table), and the expectation
decorators are evaluated.
"""

import re

import sdp_graph
import sdp_local
import sdp_names

# Python datasets with expectations, for the data-quality counts after a run:
# {"dataset": name, "function": the undecorated query function, "expectations": [...]}.
CHECKS = []


def _reads_a_stream(plan):
    """Whether a Spark Connect plan reads any source as a stream."""
    return any(
        field.name == "is_streaming" and value is True
        for message in sdp_graph.messages(plan)
        for field, value in message.ListFields()
    )


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


def kept_arguments(define, kwargs):
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
        arguments = kept_arguments(define, kwargs)
        if "name" in arguments:
            # A qualified name is a table of the pipeline's own database (sdp_names.py).
            arguments["name"] = sdp_names.table_name(arguments["name"], quoted=False)
        return define(**arguments)(func)

    return outer(query_function) if query_function is not None else outer


def oss_api():
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
        return oss_api().table if streaming else oss_api().materialized_view

    return _dataset(define_for, query_function, kwargs)


def materialized_view(query_function=None, **kwargs):
    return _dataset(lambda _: oss_api().materialized_view, query_function, kwargs)


def temporary_view(query_function=None, **kwargs):
    return _dataset(lambda _: oss_api().temporary_view, query_function, kwargs)


view = temporary_view


# The session the pipeline's files are loaded with (the driver sets it). Reads through another
# session object (`SparkSession.active()`) are not seen as reads of the pipeline's datasets: on
# a rerun the flow then starts before the datasets it reads are refreshed.
SESSION = None


def session():
    from pyspark.sql import SparkSession

    return SESSION or SparkSession.active()


def read(name):
    return session().read.table(name)


def read_stream(name):
    return session().readStream.table(name)


def install_pipelines_api():
    """Puts the Databricks names on `pyspark.pipelines` (what `dp` and `dlt` are)."""
    import pyspark.pipelines as dp

    import sdp_cdc

    oss = oss_api()
    for name in ("append_flow", "create_sink"):
        globals()[name] = getattr(oss, name, None)
    # AUTO CDC targets are materialized views locally (sdp_cdc.py says why).
    globals()["create_streaming_table"] = sdp_cdc.create_streaming_table
    globals()["create_target_table"] = sdp_cdc.create_streaming_table
    globals()["create_auto_cdc_flow"] = sdp_cdc.create_auto_cdc_flow
    globals()["apply_changes"] = sdp_cdc.create_auto_cdc_flow
    for name in ("table", "materialized_view", "temporary_view", "view", "read", "read_stream",
                 "expect", "expect_or_drop", "expect_or_fail", "expect_all",
                 "expect_all_or_drop", "expect_all_or_fail", "create_streaming_table",
                 "create_target_table", "create_auto_cdc_flow", "apply_changes"):
        setattr(dp, name, globals()[name])


def install_projections():
    """`withColumn` / `withColumns` as the projection they stand for, whenever the frame's
    columns can be read, and `drop` of named columns as a projection always. Spark Connect
    resolves the input of these against the catalog at once, so a pipeline does not see that the
    flow reads its own dataset: on a rerun it starts the flow before that dataset is refreshed
    (the flow reads the previous update's rows), and on a first run `drop` fails (seen with
    pyspark 4.3). A projection leaves the read to the pipeline, as on Databricks. When the
    columns cannot be read (a first run: the dataset does not exist yet, so nothing is stale)
    `withColumn` is left as it is."""
    from pyspark.sql.connect.column import Column
    from pyspark.sql.connect.dataframe import DataFrame

    with_columns = DataFrame.withColumns
    with_column = DataFrame.withColumn

    def projected(df, mapping):
        if not all(isinstance(c, Column) for c in mapping.values()):
            return None
        try:
            names = sdp_local.outside_the_flow(lambda: df.columns)
        except Exception:
            return None
        if len({n.lower() for n in names}) != len(names):
            return None
        pending = dict(mapping)
        out = []
        for name in names:
            replaced = next((k for k in pending if k.lower() == name.lower()), None)
            if replaced is None:
                out.append(df["`" + name.replace("`", "``") + "`"])
            else:
                out.append(pending.pop(replaced).alias(replaced))
        out.extend(column.alias(name) for name, column in pending.items())
        return df.select(*out)

    def withColumns(self, *cols_map):
        if len(cols_map) == 1 and isinstance(cols_map[0], dict):
            result = projected(self, cols_map[0])
            if result is not None:
                return result
        return with_columns(self, *cols_map)

    def withColumn(self, colName, col):
        result = projected(self, {colName: col}) if isinstance(colName, str) else None
        return result if result is not None else with_column(self, colName, col)

    drop = DataFrame.drop

    def dropped(self, *cols):
        # `drop` resolves its input at once too, and fails on a first run when that input is a
        # dataset not written yet ([TABLE_OR_VIEW_NOT_FOUND]; Databricks runs it): named columns
        # are left out by a column regex Spark expands later, which keeps the order.
        if not cols or not all(isinstance(c, str) for c in cols):
            return drop(self, *cols)
        alternatives = "|".join(re.escape(c) for c in cols)
        return self.select(self.colRegex(f"`(?!(?:{alternatives})$).+`"))

    DataFrame.withColumns = withColumns
    DataFrame.withColumn = withColumn
    DataFrame.drop = dropped


def install_local_rows():
    """`spark.createDataFrame(rows, "a INT, b STRING")` in a query function, as on Databricks:
    Spark Connect has the server parse a DDL schema, a request the server refuses inside a flow
    (ATTEMPT_ANALYSIS_IN_PIPELINE_QUERY_FUNCTION, seen with pyspark 4.3). Parsing a schema reads
    no data, so it is done outside the flow."""
    from pyspark.sql.connect.session import SparkSession

    create = SparkSession.createDataFrame

    def createDataFrame(self, data, schema=None, *args, **kwargs):
        if isinstance(schema, str):
            client, ddl = self.client, schema
            schema = sdp_local.outside_the_flow(
                lambda: client._analyze(method="ddl_parse", ddl_string=ddl).parsed
            )
        return create(self, data, schema, *args, **kwargs)

    SparkSession.createDataFrame = createDataFrame
