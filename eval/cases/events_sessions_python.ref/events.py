from pyspark import pipelines as dp
from pyspark.sql import functions as F


@dp.materialized_view(comment="Raw clickstream events")
def events_bronze():
    return spark.read.format("json").load("/Volumes/main/raw/events/")


@dp.materialized_view(comment="One row per session")
def sessions():
    events = spark.read.table("events_bronze").withColumn("event_ts", F.to_timestamp("event_ts"))
    return events.groupBy("session_id").agg(
        F.count("*").alias("events"),
        F.min("event_ts").alias("first_event_ts"),
        F.max("event_ts").alias("last_event_ts"),
        F.max(F.when(F.col("event_type") == "purchase", True).otherwise(False)).alias("has_purchase"),
    )
