"""Three-part table names and the `--data` tables on sdp-emulator's local engine (`names.json`,
written by names.rs)."""

import json
from pathlib import Path

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
