from pyspark import pipelines as dp
from pyspark.sql import functions as F


@dp.materialized_view
def stock_movements():
    return spark.range(0, 2000).select(
        F.col("id").alias("movement_id"),
        F.concat(F.lit("SKU-"), (F.col("id") % 40).cast("string")).alias("sku"),
        F.element_at(F.array(F.lit("north"), F.lit("south"), F.lit("east")), (F.col("id") % 3 + 1).cast("int")).alias("warehouse"),
        F.when(F.col("id") % 4 == 0, -(F.col("id") % 7 + 1)).otherwise(F.col("id") % 11 + 1).alias("quantity"),
        F.timestamp_seconds(F.lit(1735689600) + F.col("id") * 300).alias("moved_at"),
    )


@dp.materialized_view
def stock_by_sku():
    return (
        spark.read.table("stock_movements")
        .groupBy("sku", "warehouse")
        .agg(F.sum("quantity").alias("net_quantity"))
    )
