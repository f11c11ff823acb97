use super::*;

fn sql_file(text: &str) -> SourceFile {
    SourceFile {
        path: "/Workspace/x.sql".into(),
        language: Language::Sql,
        text: text.into(),
    }
}

fn map_one(text: &str) -> Mapped {
    map(&sql_file(text), &Context::default()).unwrap()
}

#[test]
fn create_or_refresh_live_and_private_are_mapped() {
    let m = map_one(
        "-- keep me\nCREATE OR REFRESH MATERIALIZED VIEW s\nCOMMENT 'c' AS SELECT * FROM LIVE.b;",
    );
    assert_eq!(
        m.text,
        "-- keep me\nCREATE MATERIALIZED VIEW s\nCOMMENT 'c' AS SELECT * FROM b;"
    );
    let m = map_one(
        "CREATE OR REFRESH PRIVATE MATERIALIZED VIEW a AS SELECT 1 AS x;\n\
         CREATE LIVE TABLE b AS SELECT * FROM a;\n\
         CREATE TEMPORARY LIVE VIEW c AS SELECT * FROM b;\n\
         CREATE TEMPORARY STREAMING LIVE TABLE d AS SELECT * FROM STREAM(e);",
    );
    assert_eq!(
        m.text,
        "CREATE MATERIALIZED VIEW a AS SELECT 1 AS x;\n\
         CREATE MATERIALIZED VIEW b AS SELECT * FROM a;\n\
         CREATE TEMPORARY VIEW c AS SELECT * FROM b;\n\
         CREATE STREAMING TABLE d AS SELECT * FROM STREAM(e);"
    );
    assert_eq!(m.views, [("c".to_string(), "SELECT * FROM b".to_string())]);
}

#[test]
fn expectations_are_one_filter_and_a_check() {
    let m = map_one(
        "CREATE OR REFRESH STREAMING TABLE s (\n  CONSTRAINT a EXPECT (id IS NOT NULL) ON VIOLATION DROP ROW,\n  \
         CONSTRAINT b EXPECT (n > 0) ON VIOLATION FAIL UPDATE,\n  CONSTRAINT c EXPECT (len(x) < 9)\n)\n\
         AS SELECT id, n, x FROM STREAM(LIVE.b) -- trailing\n;",
    );
    assert!(
        !m.text.contains("CONSTRAINT") && !m.text.contains("REFRESH"),
        "{}",
        m.text
    );
    assert!(
        m.text.contains(
            "AS SELECT * FROM (\nSELECT id, n, x FROM STREAM(b)\n) WHERE CASE WHEN assert_true("
        ),
        "{}",
        m.text
    );
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert_eq!(m.checks.len(), 1);
    assert_eq!(m.checks[0].query, "SELECT id, n, x FROM b");
    assert_eq!(m.checks[0].expectations.len(), 3);
    // Column definitions beside expectations stay.
    let m = map_one(
        "CREATE MATERIALIZED VIEW s (id BIGINT, CONSTRAINT a EXPECT (id > 0) ON VIOLATION DROP ROW) AS SELECT id FROM b",
    );
    assert!(
        m.text
            .starts_with("CREATE MATERIALIZED VIEW s (id BIGINT) AS SELECT * FROM ("),
        "{}",
        m.text
    );
}

#[test]
fn a_streaming_tables_expectations_apply_to_its_flows() {
    let files = [
        sql_file("CREATE STREAMING TABLE t (CONSTRAINT ok EXPECT (id > 0) ON VIOLATION DROP ROW);"),
        sql_file("CREATE FLOW f AS INSERT INTO t BY NAME SELECT * FROM STREAM(src);"),
    ];
    let context = Context::of(&files, Names::default());
    assert_eq!(context.rules["t"].len(), 1);
    let m = map(&files[1], &context).unwrap();
    assert!(
        m.text
            .contains("BY NAME SELECT * FROM (\nSELECT * FROM STREAM(src)\n) WHERE CASE"),
        "{}",
        m.text
    );
    assert_eq!(m.checks[0].dataset, "t");
    assert_eq!(m.checks[0].query, "SELECT * FROM src");
    let m = map(&files[0], &context).unwrap();
    assert_eq!(m.text, "CREATE STREAMING TABLE t ;");
}

#[test]
fn read_files_reads_a_view_of_a_companion_file() {
    let m = map_one(
        "CREATE STREAMING TABLE raw AS SELECT * FROM STREAM read_files('/Volumes/x/y/z', format => 'json')",
    );
    assert_eq!(
        m.text,
        "CREATE STREAMING TABLE raw AS SELECT * FROM STREAM raw__read_files_1"
    );
    let python = m.python.unwrap();
    assert!(
        python.contains("sdp_local.read_files(\n        spark, \"/Volumes/x/y/z\""),
        "{python}"
    );
}

#[test]
fn python_files_are_left_to_the_pipelines_api() {
    let text = "@dp.materialized_view\n@dp.expect_all_or_drop({\n    \"ok\": \"id > 0\",\n})\ndef t():\n    return spark.range(3)\n";
    let m = map(
        &SourceFile {
            path: "/Workspace/x.py".into(),
            language: Language::Python,
            text: text.into(),
        },
        &Context::default(),
    )
    .unwrap();
    assert_eq!(m.text, text);
}

#[test]
fn auto_cdc_flows_and_their_targets_move_to_the_companion() {
    let files = [
        sql_file("CREATE OR REFRESH STREAMING TABLE current\n  COMMENT 'latest';"),
        sql_file(
            "CREATE FLOW current_cdc AS AUTO CDC INTO current\nFROM STREAM(LIVE.changes)\n\
             KEYS (id)\nSEQUENCE BY seq\nSTORED AS SCD TYPE 2;\n\
             CREATE MATERIALIZED VIEW after AS SELECT * FROM current;",
        ),
    ];
    let context = Context::of(&files, Names::default());
    assert_eq!(context.cdc_targets, BTreeSet::from(["current".to_string()]));
    let m = map(&files[0], &context).unwrap();
    assert!(
        m.text
            .starts_with("/* current, the target of an AUTO CDC flow"),
        "{}",
        m.text
    );
    assert_eq!(m.text.matches('\n').count(), 1, "{}", m.text);
    assert!(m.python.is_none());
    let m = map(&files[1], &context).unwrap();
    assert!(
        m.text.starts_with("/* the AUTO CDC flow current_cdc"),
        "{}",
        m.text
    );
    // The statement after it keeps its line.
    assert_eq!(
        m.text.lines().nth(5),
        Some("CREATE MATERIALIZED VIEW after AS SELECT * FROM current;")
    );
    let python = m.python.unwrap();
    assert!(python.contains("sdp_cdc.create_auto_cdc_flow("), "{python}");
    assert!(python.contains("source=\"changes\""), "{python}");
    assert!(python.contains("stored_as_scd_type=\"2\""), "{python}");
    // A target declared in SQL and written by a Python flow: the declaration goes too.
    let python = SourceFile {
        path: "/Workspace/cdc.py".into(),
        language: Language::Python,
        text: "dp.create_auto_cdc_flow(target=\"py_target\", source=\"changes\", keys=[\"id\"], sequence_by=\"seq\")\n".into(),
    };
    let declared = sql_file("CREATE OR REFRESH STREAMING TABLE py_target;");
    let context = Context::of(&[python, declared.clone()], Names::default());
    let m = map(&declared, &context).unwrap();
    assert!(m.text.starts_with("/* py_target, the target"), "{}", m.text);
    // A streaming table no AUTO CDC flow writes stays.
    let m = map(&sql_file("CREATE STREAMING TABLE other;"), &context).unwrap();
    assert_eq!(m.text, "CREATE STREAMING TABLE other;");
}
