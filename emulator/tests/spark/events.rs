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
