//! Errors as a workspace reports them, repairs, ingestion, names, expectations, configuration.

use sdp_emulator::{DemoFlaw, Emulator};
use serde_json::{Value, json};

use crate::client::Client;
use crate::plans::{ask, create_from, write_sources};
use crate::support::*;

#[tokio::test]
async fn spark_reports_each_mistake_like_a_workspace_then_runs_the_fixed_pipeline() {
    let Some((emulator, dir)) = spark_emulator("mistakes", DemoFlaw::None).await else {
        return;
    };
    let client = Client::new(&emulator);
    let root = "/Workspace/Shared/spark_test";
    let bronze = format!("{root}/bronze.sql");
    let silver = format!("{root}/silver.sql");
    emulator.put_file(
        &bronze,
        "CREATE OR REFRESH MATERIALIZED VIEW clicks_bronze AS\n\
         SELECT id AS event_id, element_at(array('view', 'click'), CAST(id % 2 AS INT) + 1) AS action\n\
         FROM range(0, 1000);",
    );
    emulator.put_file(
        &silver,
        "CREATE MATERIALIZED VIEW clicks_silver AS\nSELEC * FROM clicks_bronze;",
    );
    let created = client
        .post(
            "/api/2.0/pipelines",
            &json!({"name": "spark_test", "catalog": "main", "schema": "clicks",
                    "libraries": [{"glob": {"include": format!("{root}/**")}}]}),
        )
        .await
        .json();
    let id = created["pipeline_id"].as_str().unwrap().to_string();

    // 1. A syntax error.
    let found = failed_validation(&client, &id).await;
    assert!(
        found.len() == 1
            && found[0].starts_with("[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'"),
        "{found:?}"
    );

    // 2. A wrong column and a missing table, both reported.
    emulator.put_file(
        &silver,
        "CREATE MATERIALIZED VIEW clicks_silver AS\nSELECT event_id, acton FROM clicks_bronze;\n\
         CREATE MATERIALIZED VIEW clicks_gold AS SELECT count(*) AS n FROM clicks_silvr;",
    );
    let found = failed_validation(&client, &id).await;
    assert!(
        found
            .iter()
            .any(|m| m.starts_with("[UNRESOLVED_COLUMN.WITH_SUGGESTION]") && m.contains("acton")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|m| m.starts_with("[TABLE_OR_VIEW_NOT_FOUND]") && m.contains("clicks_silvr")),
        "{found:?}"
    );

    // 3. Fixed (with Databricks expectations, mapped): it validates, then a real update writes.
    emulator.put_file(
        &silver,
        "CREATE OR REFRESH MATERIALIZED VIEW clicks_silver (\n  \
         CONSTRAINT is_click EXPECT (action = 'click') ON VIOLATION DROP ROW\n)\n\
         AS SELECT event_id, action FROM clicks_bronze;",
    );
    let update = validate_then_run(&client, &id).await;
    assert_eq!(
        tables_of(&emulator, &update),
        json!({"clicks_bronze": 1000, "clicks_silver": 500})
    );
    let events = emulator.pipeline_events(&id);
    let rows: Vec<(&str, &Value)> = events
        .iter()
        .filter(|e| e["origin"]["update_id"] == update && e["event_type"] == "flow_progress")
        .map(|e| {
            (
                e["origin"]["dataset_name"].as_str().unwrap(),
                &e["details"]["flow_progress"]["metrics"]["num_output_rows"],
            )
        })
        .collect();
    assert!(
        rows.contains(&("main.clicks.clicks_silver", &json!(500))),
        "{rows:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_demo_pipeline_flawed_then_repaired_runs_and_its_tables_have_rows() {
    let Some((emulator, dir)) = spark_emulator("demo", DemoFlaw::Table).await else {
        return;
    };
    let client = Client::new(&emulator);
    let question = json!({"role": "user",
        "content": "Build a bronze/silver SDP pipeline over synthetic clickstream data"});
    let (first, plan) = ask(&client, &json!([question])).await;
    let id = create_from(&emulator, &client, &plan).await;

    // The flawed first plan: Spark reports the table it reads under a wrong name.
    let found = failed_validation(&client, &id).await;
    assert!(
        found
            .iter()
            .any(|m| m.starts_with("[TABLE_OR_VIEW_NOT_FOUND]") && m.contains("clickstream_bronze")),
        "{found:?}"
    );

    // A repair request (the conversation so far, then the errors) gets the corrected files.
    let repair = json!([question, {"role": "assistant", "content": first},
        {"role": "user", "content": format!("Validation failed:\n{}\nReturn the corrected files.", found.join("\n"))}]);
    let (_, fixed) = ask(&client, &repair).await;
    assert_eq!(fixed["workspace_file_paths"], plan["workspace_file_paths"]);
    write_sources(&emulator, &fixed);
    let update = validate_then_run(&client, &id).await;
    let tables = tables_of(&emulator, &update);
    assert_eq!(tables["bronze_clickstream"], 10000, "{tables:?}");
    let silver = tables["silver_clickstream"].as_u64().unwrap();
    assert!(silver > 0 && silver <= 10000, "{tables:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn spark_ingests_volume_files_and_reads_three_part_names() {
    // A data directory (`--data`) with JSON event files, and a managed volume whose CSV file
    // is uploaded through the Files API.
    let data = std::env::temp_dir().join(format!("sdp-spark-data-{}", std::process::id()));
    let events = data.join("main/raw/events");
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(
        events.join("part-1.json"),
        "{\"id\": 1, \"kind\": \"view\"}\n{\"id\": 2, \"kind\": \"click\"}\n{\"id\": 3, \"kind\": \"click\"}\n",
    )
    .unwrap();
    std::fs::write(
        events.join("part-2.json"),
        "{\"id\": 4, \"kind\": \"view\"}\n{\"id\": 5, \"kind\": \"buy\"}\n",
    )
    .unwrap();
    // A table of another catalog, from a file (`samples.nyctaxi.trips`).
    std::fs::create_dir_all(data.join("samples/nyctaxi")).unwrap();
    std::fs::write(
        data.join("samples/nyctaxi/trips.json"),
        "{\"trip_id\": 1, \"fare\": 7.5}\n{\"trip_id\": 2, \"fare\": 12.0}\n{\"trip_id\": 3, \"fare\": 3.25}\n",
    )
    .unwrap();
    let Some((emulator, dir)) =
        spark_emulator_with("ingest", DemoFlaw::None, Some(data.clone())).await
    else {
        return;
    };
    let client = Client::new(&emulator);
    let volume = json!({"catalog_name": "main", "schema_name": "ref", "name": "lookups",
                        "volume_type": "MANAGED"});
    client.post("/api/2.1/unity-catalog/volumes", &volume).await;
    let put = client
        .raw(
            "PUT",
            "/api/2.0/fs/files/Volumes/main/ref/lookups/kinds.csv",
            "kind,label\nview,Viewed\nclick,Clicked\n",
        )
        .await;
    assert_eq!(put.status, 204);

    let root = "/Workspace/Shared/ingest";
    let ingest = format!("{root}/ingest.sql");
    let ingest_sql = |option: &str| {
        format!(
            "CREATE OR REFRESH STREAMING TABLE events_raw AS SELECT * FROM STREAM read_files(\n  \
             '/Volumes/main/raw/events/', format => 'json', schemaHints => 'id INT'{option});\n\
             CREATE OR REFRESH MATERIALIZED VIEW kinds AS\n\
             SELECT * FROM read_files('/Volumes/main/ref/lookups/kinds.csv', format => 'csv', header => true);"
        )
    };
    emulator.put_file(&ingest, &ingest_sql(""));
    emulator.put_file(
        &format!("{root}/auto.py"),
        "from pyspark import pipelines as dp\n\n\n@dp.table\ndef events_auto():\n    return (\n        \
         spark.readStream.format(\"cloudFiles\")\n        .option(\"cloudFiles.format\", \"json\")\n        \
         .option(\"cloudFiles.schemaLocation\", \"/Volumes/main/raw/events/_schemas\")\n        \
         .load(\"/Volumes/main/raw/events\")\n    )\n",
    );
    // Three-part names: the pipeline's own catalog, and a --data table of another one.
    emulator.put_file(
        &format!("{root}/labeled.sql"),
        "CREATE OR REFRESH MATERIALIZED VIEW main.ingest.events_labeled AS\n\
         SELECT e.id, k.label, e._rescued_data FROM main.ingest.events_raw e JOIN kinds k ON e.kind = k.kind;\n\
         CREATE OR REFRESH MATERIALIZED VIEW long_trips AS SELECT * FROM samples.nyctaxi.trips WHERE fare > 5;",
    );
    emulator.put_file(
        &format!("{root}/fares.py"),
        "from pyspark import pipelines as dp\n\n\n@dp.materialized_view\ndef fares():\n    \
         return spark.read.table(\"samples.nyctaxi.trips\").selectExpr(\"sum(fare) AS total\")\n",
    );
    let id = create_pipeline(&client, "ingest", root, "ingest").await;
    let update = validate_then_run(&client, &id).await;
    assert_eq!(
        tables_of(&emulator, &update),
        json!({"events_raw": 5, "kinds": 2, "events_auto": 5, "events_labeled": 4,
               "long_trips": 2, "fares": 1})
    );

    // An option read_files has on Databricks but Spark's file source has not: named.
    emulator.put_file(&ingest, &ingest_sql(", partitionColumns => 'day'"));
    let found = failed_validation(&client, &id).await;
    assert!(
        found.len() == 1
            && found[0].starts_with("[LOCAL_ENGINE_UNSUPPORTED_OPTION]")
            && found[0].contains("'partitionColumns'"),
        "{found:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&data).ok();
}

/// The `data_quality` of the update's `flow_progress` event for `dataset`.
fn data_quality(emulator: &Emulator, id: &str, update: &str, dataset: &str) -> Value {
    emulator
        .pipeline_events(id)
        .into_iter()
        .find(|e| {
            e["origin"]["update_id"] == update
                && e["event_type"] == "flow_progress"
                && e["origin"]["dataset_name"] == format!("main.quality.{dataset}")
        })
        .map(|e| e["details"]["flow_progress"]["data_quality"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn spark_evaluates_expectations_python_as_databricks_configuration_and_selections() {
    let Some((emulator, dir)) = spark_emulator("quality", DemoFlaw::None).await else {
        return;
    };
    let client = Client::new(&emulator);
    let root = "/Workspace/Shared/quality";
    let python = format!("{root}/nums.py");
    let nums = |n: u32| {
        format!(
            "import dlt\n\n\n@dlt.table(comment=\"a batch query: a materialized view\")\n\
             @dlt.expect_all_or_drop({{\n    \"positive\": \"id > 0\",\n}})\n\
             @dlt.expect(\"even\", \"id % 2 = 0\")\ndef nums():\n    \
             return spark.range(int(spark.conf.get(\"rows\")) + {n})\n"
        )
    };
    emulator.put_file(&python, &nums(0));
    let checked = format!("{root}/checked.sql");
    let checked_sql = |limit: &str| {
        format!(
            "CREATE OR REFRESH MATERIALIZED VIEW checked (\n  \
             CONSTRAINT has_id EXPECT (id IS NOT NULL) ON VIOLATION DROP ROW,\n  \
             CONSTRAINT small EXPECT (coalesce(id, 0) < {limit}) ON VIOLATION FAIL UPDATE,\n  \
             CONSTRAINT odd EXPECT (id % 2 = 1)\n\
             ) AS SELECT CASE WHEN id = 3 THEN NULL ELSE id END AS id FROM nums;"
        )
    };
    emulator.put_file(&checked, &checked_sql("${limit}"));
    let created = client
        .post(
            "/api/2.0/pipelines",
            &json!({"name": "quality", "catalog": "main", "schema": "quality",
                    "configuration": {"rows": "10", "limit": "100"},
                    "libraries": [{"glob": {"include": format!("{root}/**")}}]}),
        )
        .await
        .json();
    let id = created["pipeline_id"].as_str().unwrap().to_string();

    // `import dlt`, a batch @dlt.table, `spark.conf.get` and `${limit}`: it runs, and every
    // expectation is counted (warn ones too), NULL failing a condition.
    let update = validate_then_run(&client, &id).await;
    assert_eq!(
        tables_of(&emulator, &update),
        json!({"nums": 9, "checked": 8})
    );
    assert_eq!(
        data_quality(&emulator, &id, &update, "nums"),
        json!({"dropped_records": 1, "expectations": [
            {"name": "positive", "dataset": "main.quality.nums", "passed_records": 9, "failed_records": 1},
            {"name": "even", "dataset": "main.quality.nums", "passed_records": 5, "failed_records": 5},
        ]})
    );
    assert_eq!(
        data_quality(&emulator, &id, &update, "checked"),
        json!({"dropped_records": 1, "expectations": [
            {"name": "has_id", "dataset": "main.quality.checked", "passed_records": 8, "failed_records": 1},
            {"name": "small", "dataset": "main.quality.checked", "passed_records": 9, "failed_records": 0},
            {"name": "odd", "dataset": "main.quality.checked", "passed_records": 4, "failed_records": 5},
        ]})
    );

    // refresh_selection reaches Spark: nums would have 19 rows now, but only checked runs.
    emulator.put_file(&python, &nums(10));
    let (update, state) = run_update(&client, &id, json!({"refresh_selection": ["checked"]})).await;
    assert_eq!(
        state,
        "COMPLETED",
        "{:?}",
        errors(&client, &id, &update).await
    );
    let pipelines = emulator.pipelines();
    assert_eq!(
        tables_of(&emulator, &update)["nums"],
        json!(9),
        "{pipelines:?}"
    );

    // A violated FAIL UPDATE expectation fails the update, naming it; a wrong column in a
    // warn-only expectation fails validation.
    emulator.put_file(&python, &nums(0));
    emulator.put_file(&checked, &checked_sql("5"));
    let (update, state) = run_update(&client, &id, json!({"full_refresh": true})).await;
    assert_eq!(state, "FAILED");
    let found = errors(&client, &id, &update).await;
    assert!(
        found
            .iter()
            .any(|m| m.starts_with("[EXPECTATION_VIOLATION]")
                && m.contains("Violated expectations: 'small'")),
        "{found:?}"
    );
    emulator.put_file(
        &checked,
        &checked_sql("100").replace("id % 2 = 1", "idd % 2 = 1"),
    );
    let found = failed_validation(&client, &id).await;
    assert!(
        found
            .iter()
            .any(|m| m.starts_with("[UNRESOLVED_COLUMN") && m.contains("idd")),
        "{found:?}"
    );

    // STREAM() over a materialized view: refused as Databricks refuses it.
    emulator.put_file(
        &format!("{root}/stream.sql"),
        "CREATE OR REFRESH STREAMING TABLE streamed AS SELECT * FROM STREAM(checked);",
    );
    emulator.put_file(&checked, &checked_sql("100"));
    let found = failed_validation(&client, &id).await;
    assert!(
        found.len() == 1 && found[0].starts_with("[STREAMING_FROM_MATERIALIZED_VIEW]"),
        "{found:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `--flaw=column` and `--flaw=streaming`: Spark's own error goes back to the demo model, which
/// fixes what it names; the repaired pipeline validates.
#[tokio::test]
async fn the_demo_model_repairs_a_wrong_column_and_a_batch_stream_from_sparks_errors() {
    for (flaw, class) in [
        (DemoFlaw::Column, "[UNRESOLVED_COLUMN.WITH_SUGGESTION]"),
        (
            DemoFlaw::Streaming,
            "[INVALID_FLOW_QUERY_TYPE.BATCH_RELATION_FOR_STREAMING_TABLE]",
        ),
    ] {
        let Some((emulator, dir)) = spark_emulator(&format!("repair-{flaw:?}"), flaw).await else {
            return;
        };
        let client = Client::new(&emulator);
        let question = json!({"role": "user",
            "content": "Build a bronze/silver SDP pipeline over synthetic clickstream data"});
        let (first, plan) = ask(&client, &json!([question])).await;
        let id = create_from(&emulator, &client, &plan).await;
        let found = failed_validation(&client, &id).await;
        assert!(
            found.iter().any(|m| m.starts_with(class)),
            "{flaw:?}: {found:?}"
        );
        let repair = json!([question, {"role": "assistant", "content": first},
            {"role": "user", "content": format!("Validation failed:\n{}\nReturn the corrected files.", found.join("\n"))}]);
        let (answer, fixed) = ask(&client, &repair).await;
        assert!(
            answer.starts_with("Here are the corrected files:"),
            "{answer}"
        );
        write_sources(&emulator, &fixed);
        let (update, state) = run_update(&client, &id, json!({"validate_only": true})).await;
        assert_eq!(
            state,
            "COMPLETED",
            "{flaw:?}: {:?}",
            errors(&client, &id, &update).await
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
