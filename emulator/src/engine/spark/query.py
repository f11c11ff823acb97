"""One SQL statement on sdp-emulator's Spark server, for its SQL warehouse (the Statement
Execution API): reads {"statement", "database", "limit", "parameters"} as JSON on stdin, prints one JSON line:
{"columns": [{"name", "type_name", "type_text"}], "rows": [[str | None]], "truncated": bool}
or {"error": {"class_name", "message", "condition"}}. Values are strings, as the API's
JSON_ARRAY format gives them; complex values are JSON text."""

import json
import sys

from pyspark.errors import PySparkException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DecimalType, MapType, StructType

# Spark's typeName() -> the API's ColumnInfoTypeName where they differ.
TYPE_NAMES = {"integer": "INT", "void": "NULL"}


def type_name(data_type):
    if isinstance(data_type, DecimalType):
        return "DECIMAL"
    name = data_type.typeName()
    return TYPE_NAMES.get(name, name.upper())


def typed(spark, value, kind):
    """A parameter's value as its type says (the API sends every value as a string)."""
    if value is None or not kind:
        return value
    return spark.sql(f"SELECT CAST(:v AS {kind})", args={"v": value}).first()[0]


def main():
    request = json.load(sys.stdin)
    spark = SparkSession.builder.getOrCreate()
    try:
        if request.get("database"):
            spark.catalog.setCurrentDatabase(request["database"])
        # Named parameter markers (`:name`), typed when the request gives a type.
        args = {
            p["name"]: typed(spark, p["value"], p.get("type"))
            for p in request.get("parameters", [])
        }
        df = spark.sql(request["statement"], args=args or None)
        fields = df.schema.fields
        # Positional names: a result may repeat a column name.
        plain = df.toDF(*[f"c{i}" for i in range(len(fields))])
        strings = [
            F.to_json(F.col(f"c{i}")) if isinstance(f.dataType, (ArrayType, MapType, StructType))
            else F.col(f"c{i}").cast("string")
            for i, f in enumerate(fields)
        ]
        limit = int(request["limit"])
        rows = [list(r) for r in plain.select(*strings).limit(limit + 1).collect()]
        print(json.dumps({
            "columns": [
                {"name": f.name, "type_name": type_name(f.dataType),
                 "type_text": f.dataType.simpleString().upper()}
                for f in fields
            ],
            "rows": rows[:limit],
            "truncated": len(rows) > limit,
        }))
    except Exception as e:  # reported as the statement's failure
        error = {"class_name": f"{type(e).__module__}.{type(e).__name__}", "message": str(e)}
        if isinstance(e, PySparkException):
            error["condition"] = e.getCondition()
        print(json.dumps({"error": error}))
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
