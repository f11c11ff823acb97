"""Table names and the `--data` tables on sdp-emulator's local engine (`names.json`, written by
names.rs): a schema of the pipeline's catalog is the pipeline's own database `<schema>__<tag>`."""

import json
from pathlib import Path

_names = None


def _mapping():
    global _names
    if _names is None:
        mapping = Path("names.json")
        _names = json.loads(mapping.read_text()) if mapping.exists() else {}
    return _names


def database(catalog, schema):
    """The local database of `catalog.schema` (None for an unknown catalog)."""
    names = _mapping()
    own = f"__{names.get('tag')}" if names.get("tag") else ""
    if catalog is None or catalog.lower() == names.get("catalog"):
        # The engine's own reads name the local database already.
        return schema if schema.lower().endswith(own) else f"{schema.lower()}{own}"
    if catalog.lower() in names.get("others", []):
        return f"{catalog.lower()}__{schema.lower()}"
    return None


def table_name(name, quoted=True):
    """A two- or three-part table name as the local engine knows it (see names.rs)."""
    parts = [p.strip("`") for p in name.split(".")] if isinstance(name, str) else []
    if len(parts) not in (2, 3):
        return name
    catalog = parts[0] if len(parts) == 3 else None
    local = database(catalog, parts[-2])
    if local is None:
        return name
    return f"`{local}`.`{parts[-1]}`" if quoted else f"{local}.{parts[-1]}"


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
