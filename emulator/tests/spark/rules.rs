//! Every rule the agent's prompt gives the model (`guest/src/model_fill/prompt.rs`), broken
//! on purpose: the local engine's validation refuses each counter-example with the error a
//! model can act on, and the one legacy form the prompt only discourages (`LIVE.`) passes, as
//! on Databricks.

use sdp_emulator::DemoFlaw;
use serde_json::json;

use crate::client::Client;
use crate::support::*;

/// A rule of the prompt, a pipeline breaking it (file name → text) and what validation says:
/// the error class its message starts with, or None when it must pass.
struct Case {
    rule: &'static str,
    files: &'static [(&'static str, &'static str)],
    refused: Option<&'static str>,
}

/// An append-only change feed (a streaming table), what AUTO CDC reads.
const CHANGES: &str = "from pyspark import pipelines as dp\n\n@dp.table\ndef changes():\n    \
    return spark.readStream.format(\"rate\").load().selectExpr(\"value AS id\", \"value AS seq\")\n";

const CASES: &[Case] = &[
    Case {
        rule: "a dataset function never runs anything: no count()",
        files: &[(
            "a.py",
            "from pyspark import pipelines as dp\n\n@dp.materialized_view\ndef a():\n    df = spark.range(3)\n    df.count()\n    return df\n",
        )],
        refused: Some("[ATTEMPT_ANALYSIS_IN_PIPELINE_QUERY_FUNCTION]"),
    },
    Case {
        rule: "a dataset function never runs anything: no collect()",
        files: &[(
            "a.py",
            "import dlt\n\n@dlt.table\ndef a():\n    rows = spark.range(3).collect()\n    return spark.range(len(rows))\n",
        )],
        refused: Some("[ATTEMPT_ANALYSIS_IN_PIPELINE_QUERY_FUNCTION]"),
    },
    Case {
        rule: "a STREAMING TABLE needs a streaming source",
        files: &[(
            "a.sql",
            "CREATE OR REFRESH STREAMING TABLE s AS SELECT id FROM range(3);",
        )],
        refused: Some("[INVALID_FLOW_QUERY_TYPE.BATCH_RELATION_FOR_STREAMING_TABLE]"),
    },
    Case {
        rule: "never read a materialized view with STREAM(...)",
        files: &[(
            "a.sql",
            "CREATE MATERIALIZED VIEW m AS SELECT id FROM range(3);\n\
             CREATE STREAMING TABLE s AS SELECT * FROM STREAM(m);",
        )],
        refused: Some("[STREAMING_FROM_MATERIALIZED_VIEW]"),
    },
    Case {
        rule: "every dataset a query reads is defined",
        files: &[(
            "a.sql",
            "CREATE MATERIALIZED VIEW a AS SELECT * FROM nowhere;",
        )],
        refused: Some("[TABLE_OR_VIEW_NOT_FOUND]"),
    },
    Case {
        rule: "every column it selects exists",
        files: &[(
            "a.sql",
            "CREATE MATERIALIZED VIEW a AS SELECT id AS order_id FROM range(3);\n\
             CREATE MATERIALIZED VIEW b AS SELECT id FROM a;",
        )],
        refused: Some("[UNRESOLVED_COLUMN"),
    },
    Case {
        rule: "LIVE. is a legacy prefix (accepted, as on Databricks)",
        files: &[(
            "a.sql",
            "CREATE MATERIALIZED VIEW a AS SELECT id FROM range(3);\n\
             CREATE MATERIALIZED VIEW b AS SELECT id FROM LIVE.a;",
        )],
        refused: None,
    },
    Case {
        rule: "an expectation has no subqueries",
        files: &[(
            "a.sql",
            "CREATE MATERIALIZED VIEW a AS SELECT id FROM range(3);\n\
             CREATE MATERIALIZED VIEW b (CONSTRAINT known EXPECT (id IN (SELECT id FROM a)))\n\
             AS SELECT id FROM range(5);",
        )],
        refused: Some("[EXPECTATION_CONDITION_NOT_ALLOWED]"),
    },
    Case {
        rule: "an expectation has no user-defined functions",
        files: &[(
            "a.py",
            "from pyspark import pipelines as dp\n\
             spark.udf.register(\"is_ok\", lambda x: x is not None, \"boolean\")\n\n\
             @dp.materialized_view\n@dp.expect(\"ok\", \"is_ok(id)\")\ndef a():\n    return spark.range(3)\n",
        )],
        // Registering the function is refused already (the open-source engine refuses every
        // session mutation in a pipeline).
        refused: Some("[SESSION_MUTATION_IN_DECLARATIVE_PIPELINE"),
    },
    Case {
        rule: "AUTO CDC needs KEYS",
        files: &[
            ("changes.py", CHANGES),
            (
                "a.sql",
                "CREATE OR REFRESH STREAMING TABLE target;\n\
                 CREATE FLOW f AS AUTO CDC INTO target FROM STREAM(changes) SEQUENCE BY seq;",
            ),
        ],
        refused: Some(
            "[PARSE_SYNTAX_ERROR] Syntax error at or near end of input: AUTO CDC needs KEYS",
        ),
    },
    Case {
        rule: "AUTO CDC needs SEQUENCE BY",
        files: &[
            ("changes.py", CHANGES),
            (
                "a.sql",
                "CREATE OR REFRESH STREAMING TABLE target;\n\
                 CREATE FLOW f AS AUTO CDC INTO target FROM STREAM(changes) KEYS (id);",
            ),
        ],
        refused: Some(
            "[PARSE_SYNTAX_ERROR] Syntax error at or near end of input: AUTO CDC needs SEQUENCE BY",
        ),
    },
    Case {
        rule: "parameters come from the configuration: spark.conf.get",
        files: &[(
            "a.py",
            "from pyspark import pipelines as dp\n\n@dp.materialized_view\ndef a():\n    return spark.range(int(spark.conf.get(\"not_configured\")))\n",
        )],
        refused: Some("[SQL_CONF_NOT_FOUND]"),
    },
    Case {
        rule: "no DBFS paths",
        files: &[(
            "a.sql",
            "CREATE MATERIALIZED VIEW a AS SELECT * FROM read_files('dbfs:/FileStore/events.json', format => 'json');",
        )],
        refused: Some(
            "(org.apache.hadoop.fs.UnsupportedFileSystemException) No FileSystem for scheme \"dbfs\"",
        ),
    },
    Case {
        rule: "tables are Unity Catalog tables (no Hive metastore)",
        files: &[(
            "a.sql",
            "CREATE MATERIALIZED VIEW a AS SELECT * FROM hive_metastore.default.events;",
        )],
        refused: Some("[REQUIRES_SINGLE_PART_NAMESPACE]"),
    },
];

#[tokio::test]
async fn each_rule_of_the_prompt_broken_is_refused_by_local_validation() {
    let Some((emulator, dir)) = spark_emulator("rules", DemoFlaw::None).await else {
        return;
    };
    let client = Client::new(&emulator);
    let mut wrong = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let root = format!("/Workspace/Shared/rules/case{i}");
        for (name, text) in case.files {
            emulator.put_file(&format!("{root}/{name}"), text);
        }
        let id = create_pipeline(&client, &format!("rules_{i}"), &root, "rules").await;
        let (update, state) = run_update(&client, &id, json!({"validate_only": true})).await;
        let found = errors(&client, &id, &update).await;
        let as_expected = match case.refused {
            None => state == "COMPLETED",
            Some(class) => state == "FAILED" && found.iter().any(|m| m.starts_with(class)),
        };
        eprintln!("{}: {state} {found:?}", case.rule);
        if !as_expected {
            wrong.push(format!("{}: {state} {found:?}", case.rule));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    std::fs::remove_dir_all(&dir).ok();
}
