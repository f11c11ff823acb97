use super::*;

fn read(files: &[(&str, &str)]) -> (Declared, Vec<String>) {
    let files: BTreeMap<String, String> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    Declared::read(&files)
}

fn strings(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

#[test]
fn sql_keys_constraints_and_actions() {
    let sql = "-- Databricks notebook source
CREATE OR REFRESH STREAMING TABLE orders_bronze (
  order_id BIGINT,
  CONSTRAINT valid_id EXPECT (order_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT has_customer EXPECT ((customer_id IS NOT NULL) AND amount > 0),
  CONSTRAINT sane EXPECT (amount < 1e9) ON VIOLATION FAIL UPDATE,
  CONSTRAINT pk PRIMARY KEY (order_id, `line`)
) AS SELECT * FROM STREAM read_files('/Volumes/main/raw/orders/', format => 'json');

CREATE MATERIALIZED VIEW main.sales.customers (id INT NOT NULL PRIMARY KEY, name STRING)
AS SELECT 1 AS id, 'a;b' AS name;

CREATE OR REFRESH STREAMING TABLE emails;
CREATE FLOW emails_cdc AS AUTO CDC INTO emails FROM STREAM(emails_raw)
  KEYS (user_id, t.email) SEQUENCE BY ts STORED AS SCD TYPE 1;
APPLY CHANGES INTO LIVE.old_style FROM STREAM(x) KEYS (k) SEQUENCE BY ts;
";
    let (declared, notes) = read(&[("/p/orders.sql", sql)]);
    assert!(notes.is_empty(), "{notes:?}");
    let orders = declared.of("main.sales.orders_bronze");
    assert_eq!(strings(orders.key()), ["order_id", "line"]);
    assert_eq!(
        strings(&orders.key_columns()),
        ["order_id", "line", "customer_id"]
    );
    assert_eq!(orders.actions["valid_id"], Action::Drop);
    assert_eq!(orders.actions["has_customer"], Action::Warn);
    assert_eq!(orders.actions["sane"], Action::Fail);
    // A column constraint; the table named in three parts matches only that catalog's.
    assert_eq!(strings(declared.of("main.sales.customers").key()), ["id"]);
    assert!(declared.of("dev.sales.customers").key().is_empty());
    // AUTO CDC keys, by their last part, also in the older APPLY CHANGES form.
    let emails = declared.of("`main`.`sales`.`emails`");
    assert_eq!(strings(emails.key()), ["user_id", "email"]);
    assert_eq!(strings(declared.of("main.s.old_style").key()), ["k"]);
    assert_eq!(declared.of("main.s.unknown"), Rules::default());
}

#[test]
fn python_decorators_dicts_and_cdc_calls() {
    let py = r#"# Databricks notebook source
"""Orders: bronze and "silver"."""
from pyspark import pipelines as dp
from pyspark.sql.functions import col

CHECKS = {"has_customer": "customer_id IS NOT NULL", "positive": "amount > 0"}

@dp.table(name="orders_bronze", comment='raw orders')
@dp.expect_or_drop("valid_id", "order_id IS NOT NULL")
@dp.expect_all(CHECKS)
def bronze():
    return spark.readStream.format("cloudFiles") \
        .option("cloudFiles.format", "json").load(f"/Volumes/{x}/raw")  # not a key

@dlt.materialized_view
@dlt.expect_all_or_fail({"sku": "(sku IS NOT NULL)"})
@dlt.expect(name="note", constraint="note IS NOT NULL OR true")
def products():
    return spark.read.table("main.ref.products")

dp.create_streaming_table("customers")
dp.create_auto_cdc_flow(target="customers", source="cdc", keys=["customer_id"], sequence_by=col("ts"))
dlt.apply_changes("emails", "feed", [col("user_id"), "region"], sequence_by="ts")
"#;
    let (declared, notes) = read(&[("/p/b.py", py)]);
    assert!(notes.is_empty(), "{notes:?}");
    let bronze = declared.of("main.s.orders_bronze");
    assert!(bronze.key().is_empty());
    assert_eq!(strings(&bronze.key_columns()), ["order_id", "customer_id"]);
    assert_eq!(bronze.actions["valid_id"], Action::Drop);
    assert_eq!(bronze.actions["positive"], Action::Warn);
    // Named by the function; `OR` makes no column required.
    let products = declared.of("main.s.products");
    assert_eq!(strings(&products.key_columns()), ["sku"]);
    assert_eq!(products.actions["sku"], Action::Fail);
    assert_eq!(products.actions["note"], Action::Warn);
    assert_eq!(
        strings(declared.of("main.s.customers").key()),
        ["customer_id"]
    );
    assert_eq!(
        strings(declared.of("main.s.emails").key()),
        ["user_id", "region"]
    );
}

#[test]
fn a_file_that_cannot_be_tokenized_is_a_note() {
    let (declared, notes) = read(&[
        (
            "/p/broken.sql",
            "CREATE TABLE t (CONSTRAINT c EXPECT (x IS NOT NULL)) AS SELECT 'open",
        ),
        (
            "/p/ok.sql",
            "CREATE TABLE u (CONSTRAINT c EXPECT (y IS NOT NULL)) AS SELECT 1",
        ),
    ]);
    assert_eq!(notes.len(), 1);
    assert!(notes[0].starts_with("keys and expectations of /p/broken.sql not read"));
    assert_eq!(strings(&declared.of("m.s.u").key_columns()), ["y"]);
}

/// The evaluation's reference pipelines (eval/cases/*.ref/), SQL and Python as a user writes
/// them: every file tokenizes, and the keys and actions they declare are read.
#[test]
fn the_evaluation_references_are_read() {
    let cases = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../eval/cases");
    let mut files = BTreeMap::new();
    for case in std::fs::read_dir(&cases).unwrap().flatten() {
        if !case.file_name().to_string_lossy().ends_with(".ref") {
            continue;
        }
        for file in std::fs::read_dir(case.path()).unwrap().flatten() {
            let text = std::fs::read_to_string(file.path()).unwrap();
            files.insert(file.path().display().to_string(), text);
        }
    }
    assert!(files.len() > 20, "{} reference files", files.len());
    let (declared, notes) = Declared::read(&files);
    assert!(notes.is_empty(), "{notes:#?}");
    let customers = declared.of("main.crm.customers_current");
    assert_eq!(strings(customers.key()), ["customer_id"]);
    let checked = declared.of("main.sales.orders_checked");
    assert_eq!(strings(&checked.key_columns()), ["order_id", "order_ts"]);
    assert_eq!(checked.actions["has_order_id"], Action::Fail);
    assert_eq!(checked.actions["nonzero_quantity"], Action::Drop);
    let silver = declared.of("main.sales.orders_silver");
    assert_eq!(silver.actions.get("nonzero_quantity"), Some(&Action::Drop));
}
