from pyspark import pipelines as dp
from pyspark.sql import functions as F


@dp.table(comment="The raw change feed, ingested incrementally")
def customer_changes_bronze():
    return (
        spark.readStream.format("cloudFiles")
        .option("cloudFiles.format", "json")
        .load("/Volumes/main/raw/customer_changes/")
    )


dp.create_streaming_table("customers_current", comment="Each customer's latest state (SCD type 1)")

dp.create_auto_cdc_flow(
    target="customers_current",
    source="customer_changes_bronze",
    keys=["customer_id"],
    sequence_by=F.col("change_seq"),
    apply_as_deletes=F.expr("operation = 'DELETE'"),
    except_column_list=["operation"],
    stored_as_scd_type=1,
)
