from pyspark import pipelines as dp
from pyspark.sql import functions as F


@dp.table(comment="Raw order files, ingested incrementally")
def orders_bronze():
    return (
        spark.readStream.format("cloudFiles")
        .option("cloudFiles.format", "json")
        .load("/Volumes/main/raw/orders/")
    )


@dp.materialized_view(comment="Orders with a quantity, typed")
@dp.expect_or_drop("nonzero_quantity", "quantity > 0")
def orders_silver():
    return spark.read.table("orders_bronze").select(
        "order_id",
        "customer_id",
        "product_id",
        "quantity",
        F.col("unit_price").cast("double").alias("unit_price"),
        "status",
        F.to_timestamp("order_ts").alias("order_ts"),
    )


@dp.materialized_view(comment="Orders and revenue per status")
def orders_by_status():
    return (
        spark.read.table("orders_silver")
        .groupBy("status")
        .agg(F.count("*").alias("orders"), F.sum(F.col("quantity") * F.col("unit_price")).alias("revenue"))
    )
