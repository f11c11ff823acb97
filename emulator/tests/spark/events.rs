//! Events as a workspace writes them: each ERROR event's `error.exceptions[].class_name` is
//! the engine's own class for the error (the Spark server's, or Python's for the user's code),
//! a flow's error names its dataset in `origin`, and no event names a source file (a real
//! one has no field for it).

use sdp_emulator::DemoFlaw;
use serde_json::{Value, json};

use crate::client::Client;
use crate::support::*;

/// The update's ERROR events about the code (not the update's own headline).
async fn error_events(client: &Client, id: &str, update: &str) -> Vec<Value> {
    client
        .update_events(id, update)
        .await
        .into_iter()
        .filter(|e| e["level"] == "ERROR" && e["event_type"] != "update_progress")
        .collect()
}

#[tokio::test]
async fn error_events_carry_the_engines_class_and_no_file() {
    let Some((emulator, dir)) = spark_emulator("events", DemoFlaw::None).await else {
        return;
    };
    let client = Client::new(&emulator);
    let cases = [
        (
            "parse.sql",
            "CREATE MATERIALIZED VIEW a AS\nSELEC id FROM range(3);",
            "org.apache.spark.sql.catalyst.parser.ParseException",
            None,
        ),
        (
            "name.py",
            "from pyspark import pipelines as dp\n\nundefined_helper()\n",
            "NameError",
            None,
        ),
        (
            "missing.sql",
            "CREATE MATERIALIZED VIEW b AS SELECT * FROM nowhere;",
            "org.apache.spark.sql.AnalysisException",
            Some("main.events.b"),
        ),
    ];
    for (i, (file, text, class, dataset)) in cases.into_iter().enumerate() {
        let root = format!("/Workspace/Shared/events/case{i}");
        let path = format!("{root}/{file}");
        emulator.put_file(&path, text);
        let id = create_pipeline(&client, &format!("events_{i}"), &root, "events").await;
        let (update, state) = run_update(&client, &id, json!({"validate_only": true})).await;
        assert_eq!(state, "FAILED", "{file}");
        let errors = error_events(&client, &id, &update).await;
        let event = errors
            .iter()
            .find(|e| e["error"]["exceptions"][0]["class_name"] == class)
            .unwrap_or_else(|| panic!("{file}: no {class} event in {errors:#?}"));
        if let Some(dataset) = dataset {
            assert_eq!(event["origin"]["dataset_name"], dataset, "{file}");
        }
        for e in &errors {
            assert!(
                !e.to_string().contains(&path),
                "{file}: an event names the file: {e}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `flow_definition` events name each flow's inputs as the engine read them: a CTE is not an
/// input, a subquery's table is, a stream is marked, and a Python flow's reads come from the
/// plan it gave the engine (a table named by a variable too, which no reading of the text
/// finds).
#[tokio::test]
async fn flow_definitions_come_from_the_engines_reading() {
    let Some((emulator, dir)) = spark_emulator("flow_definitions", DemoFlaw::None).await else {
        return;
    };
    let client = Client::new(&emulator);
    let volume = json!({"catalog_name": "main", "schema_name": "x", "name": "v",
                        "volume_type": "MANAGED"});
    client.post("/api/2.1/unity-catalog/volumes", &volume).await;
    let put = client
        .raw(
            "PUT",
            "/api/2.0/fs/files/Volumes/main/x/v/a.json",
            "{\"id\": 1}\n",
        )
        .await;
    assert_eq!(put.status, 204);
    let root = "/Workspace/Shared/flow_definitions";
    emulator.put_file(
        &format!("{root}/a.sql"),
        "CREATE STREAMING TABLE raw AS SELECT * FROM STREAM read_files('/Volumes/main/x/v', format => 'json');\n\
         CREATE MATERIALIZED VIEW ids AS SELECT id FROM range(5);\n\
         CREATE MATERIALIZED VIEW joined AS WITH recent AS (SELECT id FROM ids)\n\
         SELECT r.id FROM recent r WHERE r.id IN (SELECT id FROM main.flows.ids);",
    );
    emulator.put_file(
        &format!("{root}/b.py"),
        "from pyspark import pipelines as dp\n\nSOURCE = \"flows.ids\"\n\n@dp.materialized_view\n\
         def from_python():\n    return spark.read.table(\"joined\").join(spark.read.table(SOURCE), \"id\")\n",
    );
    let id = create_pipeline(&client, "flow_definitions", root, "flows").await;
    let (update, state) = run_update(&client, &id, json!({"validate_only": true})).await;
    let events = client.update_events(&id, &update).await;
    assert_eq!(state, "COMPLETED", "{events:#?}");
    let inputs = |dataset: &str| -> Vec<String> {
        let event = events
            .iter()
            .find(|e| {
                e["event_type"] == "flow_definition"
                    && e["details"]["flow_definition"]["output_dataset"] == dataset
            })
            .unwrap_or_else(|| panic!("no flow_definition for {dataset}"));
        let mut names: Vec<String> = event["details"]["flow_definition"]["input_datasets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names.dedup();
        names
    };
    assert_eq!(inputs("main.flows.raw"), Vec::<String>::new());
    assert_eq!(inputs("main.flows.joined"), ["main.flows.ids"]);
    assert_eq!(
        inputs("main.flows.from_python"),
        ["main.flows.ids", "main.flows.joined"]
    );
    std::fs::remove_dir_all(&dir).ok();
}
