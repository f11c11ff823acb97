from pyspark import pipelines as dp
from pyspark.sql import functions as F


@dp.materialized_view(comment="Orders above the configured quantity, without the excluded status")
def big_orders():
    min_quantity = int(spark.conf.get("min_quantity", "2"))
    excluded_status = spark.conf.get("excluded_status", "cancelled")
    return (
        spark.read.table("orders_bronze")
        .where((F.col("quantity") >= min_quantity) & (F.col("status") != excluded_status))
        .select("order_id", "customer_id", "product_id", "quantity", "status", "order_ts")
    )
