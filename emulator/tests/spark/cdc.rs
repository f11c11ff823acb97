//! AUTO CDC on the local engine: SQL `AUTO CDC INTO` and Python `create_auto_cdc_flow` /
//! `dlt.apply_changes` end in the rows Databricks documents for SCD types 1 and 2 (latest change
//! by sequence, deletes, a key back after its delete, changes arriving out of order), and a
//! second update picks up a new file (also in Python flows built with `withColumn` and `drop`).

use sdp_emulator::DemoFlaw;
use serde_json::json;

use crate::client::Client;
use crate::support::{
    create_pipeline, failed_validation, run_update, spark_emulator_with, tables_of, update_record,
    validate_then_run,
};

/// A change feed: customer 1 updated out of order (seq 3 arrives before seq 2), 2 deleted, 3
/// deleted then back, 4 inserted once.
const CHANGES: &str = "\
{\"id\": 1, \"email\": \"a\", \"op\": \"INSERT\", \"seq\": 1}
{\"id\": 1, \"email\": \"b\", \"op\": \"UPDATE\", \"seq\": 3}
{\"id\": 1, \"email\": \"c\", \"op\": \"UPDATE\", \"seq\": 2}
{\"id\": 2, \"email\": \"d\", \"op\": \"INSERT\", \"seq\": 4}
{\"id\": 2, \"email\": null, \"op\": \"DELETE\", \"seq\": 5}
{\"id\": 3, \"email\": \"e\", \"op\": \"INSERT\", \"seq\": 6}
{\"id\": 3, \"email\": null, \"op\": \"DELETE\", \"seq\": 7}
{\"id\": 3, \"email\": \"f\", \"op\": \"INSERT\", \"seq\": 8}
{\"id\": 4, \"email\": \"g\", \"op\": \"INSERT\", \"seq\": 9}
";

const SQL: &str = "\
CREATE OR REFRESH STREAMING TABLE changes_bronze AS
SELECT * FROM STREAM read_files('/Volumes/main/raw/changes/', format => 'json');

CREATE OR REFRESH STREAMING TABLE customers_current;
CREATE FLOW customers_current_cdc AS AUTO CDC INTO customers_current
FROM STREAM(changes_bronze)
KEYS (id)
APPLY AS DELETE WHEN op = 'DELETE'
SEQUENCE BY seq
COLUMNS * EXCEPT (op)
STORED AS SCD TYPE 1;

CREATE OR REFRESH STREAMING TABLE customers_history;
-- Written by the Python file's apply_changes.
CREATE OR REFRESH STREAMING TABLE emails_py;
CREATE FLOW customers_history_cdc AS AUTO CDC INTO customers_history
FROM STREAM(changes_bronze)
KEYS (id)
APPLY AS DELETE WHEN op = 'DELETE'
SEQUENCE BY seq
COLUMNS * EXCEPT (op)
STORED AS SCD TYPE 2;

-- The rows themselves, counted: each view has one row per expected row.
CREATE OR REFRESH MATERIALIZED VIEW current_expected AS SELECT * FROM customers_current
WHERE (id = 1 AND email = 'b' AND seq = 3) OR (id = 3 AND email = 'f') OR (id = 4 AND email = 'g');
CREATE OR REFRESH MATERIALIZED VIEW history_expected AS SELECT * FROM customers_history
WHERE (id = 1 AND email = 'a' AND __START_AT = 1 AND __END_AT = 2)
   OR (id = 1 AND email = 'c' AND __START_AT = 2 AND __END_AT = 3)
   OR (id = 1 AND email = 'b' AND __START_AT = 3 AND __END_AT IS NULL)
   OR (id = 2 AND email = 'd' AND __START_AT = 4 AND __END_AT = 5)
   OR (id = 3 AND email = 'e' AND __START_AT = 6 AND __END_AT = 7)
   OR (id = 3 AND email = 'f' AND __START_AT = 8 AND __END_AT IS NULL)
   OR (id = 4 AND email = 'g' AND __START_AT = 9 AND __END_AT IS NULL);
";

const PYTHON: &str = "\
import dlt
from pyspark import pipelines as dp
from pyspark.sql import functions as F

dp.create_streaming_table(\"customers_py\", comment=\"latest state\")
dp.create_auto_cdc_flow(
    target=\"customers_py\",
    source=\"changes_bronze\",
    keys=[\"id\"],
    sequence_by=F.col(\"seq\"),
    apply_as_deletes=F.expr(\"op = 'DELETE'\"),
    except_column_list=[\"op\"],
    stored_as_scd_type=1,
)

# emails_py is declared in the SQL file.
dlt.apply_changes(
    target=\"emails_py\",
    source=\"changes_bronze\",
    keys=[\"id\"],
    sequence_by=\"seq\",
    apply_as_deletes=\"op = 'DELETE'\",
    column_list=[\"id\", \"email\"],
    stored_as_scd_type=\"2\",
)


# withColumn over a pipeline dataset: on a rerun it must still wait for that dataset's refresh.
@dp.materialized_view
def changes_flagged():
    return spark.read.table(\"changes_bronze\").withColumn(\"deleted\", F.expr(\"op = 'DELETE'\"))


# drop over a pipeline dataset: Databricks runs it on a first update too.
@dp.materialized_view
def changes_without_op():
    return spark.read.table(\"changes_bronze\").drop(\"op\", \"_rescued_data\")
";

#[tokio::test]
async fn auto_cdc_flows_end_in_the_documented_rows_for_scd_types_1_and_2() {
    let data = std::env::temp_dir().join(format!("sdp-spark-cdc-{}", std::process::id()));
    let changes = data.join("main/raw/changes");
    std::fs::create_dir_all(&changes).unwrap();
    std::fs::write(changes.join("changes-1.json"), CHANGES).unwrap();
    let Some((emulator, dir)) =
        spark_emulator_with("cdc", DemoFlaw::None, Some(data.clone())).await
    else {
        return;
    };
    let client = Client::new(&emulator);
    let root = "/Workspace/Shared/cdc";
    emulator.put_file(&format!("{root}/cdc.sql"), SQL);
    emulator.put_file(&format!("{root}/cdc_py.py"), PYTHON);
    let id = create_pipeline(&client, "cdc", root, "cdc").await;
    let update = validate_then_run(&client, &id).await;
    assert_eq!(
        tables_of(&emulator, &update),
        json!({"changes_bronze": 9, "customers_current": 3, "current_expected": 3,
               "customers_history": 7, "history_expected": 7, "customers_py": 3,
               "emails_py": 7, "changes_flagged": 9, "changes_without_op": 9})
    );
    let record = update_record(&emulator, &update);
    assert_eq!(
        record["shapes"]["customers_current"]["columns"],
        json!(["email", "id", "seq", "_rescued_data"])
    );
    assert_eq!(
        record["shapes"]["changes_without_op"]["columns"],
        json!(["email", "id", "seq"])
    );
    assert_eq!(
        record["shapes"]["emails_py"]["columns"],
        json!(["id", "email", "__START_AT", "__END_AT"])
    );

    // A second file: customer 4 deleted, 1 updated again. An ordinary (not full) update.
    std::fs::write(
        changes.join("changes-2.json"),
        "{\"id\": 4, \"email\": null, \"op\": \"DELETE\", \"seq\": 10}\n\
         {\"id\": 1, \"email\": \"h\", \"op\": \"UPDATE\", \"seq\": 11}\n",
    )
    .unwrap();
    let (update, state) = run_update(&client, &id, json!({})).await;
    assert_eq!(state, "COMPLETED");
    let tables = tables_of(&emulator, &update);
    assert_eq!(tables["changes_bronze"], 11, "{tables}");
    assert_eq!(tables["customers_current"], 2, "{tables}");
    assert_eq!(tables["customers_history"], 8, "{tables}");
    // Customer 1's row is now h; the expected-rows view still finds 3 and f only.
    assert_eq!(tables["current_expected"], 1, "{tables}");
    // A Python flow using withColumn read the refreshed source, not the previous update's rows.
    assert_eq!(tables["changes_flagged"], 11, "{tables}");
    assert_eq!(tables["changes_without_op"], 11, "{tables}");

    // A flow without SEQUENCE BY is refused before Spark starts, in its file's words.
    emulator.put_file(
        &format!("{root}/cdc.sql"),
        &SQL.replace(
            "SEQUENCE BY seq\nCOLUMNS * EXCEPT (op)\nSTORED AS SCD TYPE 1;",
            ";",
        ),
    );
    let found = failed_validation(&client, &id).await;
    assert!(
        found.len() == 1
            && found[0].starts_with("[PARSE_SYNTAX_ERROR]")
            && found[0].contains("SEQUENCE BY"),
        "{found:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&data).ok();
}
