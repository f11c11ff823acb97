"""Each flow's output and inputs as the engine reads them, for sdp-emulator's `flow_definition`
events: a SQL flow's from the Spark parser's plan of its statement (`EXPLAIN EXTENDED`, whose
parsed plan names every relation it reads and whether as a stream), a Python flow's from the
plan its query function gave the engine (its `Read` relations). The open-source engine keeps
its resolved graph on the server; these are the same relations, before resolution."""

import dataclasses
import json
import re
from pathlib import Path

# Python flows as registered: (flow, target, [(name, streaming)]).
PYTHON_FLOWS = []

_RELATION = re.compile(r"'UnresolvedRelation \[([^\]]*)\], \[[^\]]*\], (true|false)")
_IDENTIFIER = re.compile(r"'UnresolvedIdentifier \[([^\]]*)\]")
_INSERT = re.compile(r"'InsertIntoStatement 'UnresolvedRelation \[([^\]]*)\]")
# A plan line's tree drawing precedes it: `+- CTE [recent, other]`.
_CTE = re.compile(r"(?:^|[\s:+-])CTE \[([^\]]*)\]", re.MULTILINE)


def _name(parts):
    return ".".join(p.strip() for p in parts.split(","))


def messages(message):
    """Every message of a Spark Connect plan (protobuf), `message` first."""
    yield message
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = value.values()  # a map (a read's `options`)
        elif hasattr(value, "ListFields"):
            items = [value]
        else:  # a repeated field (protobuf 6 has no `label` to ask)
            items = value
        for item in items:
            if hasattr(item, "ListFields"):
                yield from messages(item)


def _reads(relation):
    """The named tables a Spark Connect relation reads, with their streaming flag."""
    found = []
    for item in messages(relation):
        if item.DESCRIPTOR.name == "SQL":
            # `spark.sql(...)` in the function: its tables are in a query string, which
            # this does not read; the flow keeps the structural reading.
            raise LookupError("a SQL query relation")
        if item.DESCRIPTOR.name == "Read" and item.HasField("named_table"):
            found.append((item.named_table.unparsed_identifier, item.is_streaming))
    return found


def install():
    """Records the relations of every Python flow as it is registered."""
    from pyspark.pipelines.spark_connect_graph_element_registry import (
        SparkConnectGraphElementRegistry,
    )

    register = SparkConnectGraphElementRegistry.register_flow

    def registering(self, flow):
        func = flow.func

        def recorded():
            df = func()
            try:
                found = _reads(df._plan.plan(self._client))
                PYTHON_FLOWS.append((flow.name, flow.target, found))
            except Exception:  # the graph falls back to the emulator's reading
                pass
            return df

        # Flows are frozen dataclasses: registered as a copy whose function records.
        return register(self, dataclasses.replace(flow, func=recorded))

    SparkConnectGraphElementRegistry.register_flow = registering


def _sql_flow(spark, statement):
    plan = spark.sql("EXPLAIN EXTENDED " + statement.strip().rstrip(";")).first()[0]
    parsed = plan.split("== Analyzed Logical Plan ==")[0]
    insert = _INSERT.search(parsed)
    identifier = _IDENTIFIER.search(parsed)
    if identifier is None:
        return None
    name = _name(identifier.group(1))
    output = _name(insert.group(1)) if insert else name
    ctes = {c.strip().lower() for m in _CTE.findall(parsed) for c in m.split(",")}
    inputs = []
    for parts, streaming in _RELATION.findall(parsed):
        table = _name(parts)
        if insert and parts == insert.group(1) and streaming == "false":
            continue
        if table.lower() in ctes:
            continue
        inputs.append((table, streaming == "true"))
    return name, output, inputs


def emit_flows(spark, emit):
    """One `flow` line per flow the engine read: SQL statements (`flows.json`), Python flows."""
    path = Path("flows.json")
    statements = json.loads(path.read_text()) if path.exists() else []
    flows = []
    for statement in statements:
        try:
            flow = _sql_flow(spark, statement)
        except Exception:
            flow = None
        if flow:
            flows.append(flow)
    flows += PYTHON_FLOWS
    for name, output, inputs in flows:
        seen = []
        for table, streaming in inputs:
            if (table, streaming) not in seen:
                seen.append((table, streaming))
        emit(
            "flow",
            name=name,
            output=output,
            inputs=[t for t, _ in seen],
            streamed=[t for t, s in seen if s],
        )
