use super::*;

fn read_one(text: &str) -> Result<AutoCdc, Problem> {
    let statements = sql::parse(text).unwrap();
    let t = &statements[0].tokens;
    read(text, t, "f").expect("an AUTO CDC statement")
}

#[test]
fn every_clause_is_read() {
    let cdc = read_one(
        "CREATE FLOW f AS AUTO CDC INTO main.s.t\nFROM STREAM(LIVE.changes)\nKEYS (id, region)\n\
         IGNORE NULL UPDATES\nAPPLY AS DELETE WHEN operation = 'DELETE' AND (x > 1)\n\
         APPLY AS TRUNCATE WHEN operation = 'TRUNCATE'\nSEQUENCE BY struct(ts, seq)\n\
         COLUMNS * EXCEPT (operation, seq)\nSTORED AS SCD TYPE 1",
    )
    .unwrap();
    assert_eq!(cdc.target, "main.s.t");
    assert_eq!(cdc.source, "changes");
    assert_eq!(cdc.keys, ["id", "region"]);
    assert!(cdc.ignore_null_updates);
    assert_eq!(
        cdc.deletes.as_deref(),
        Some("operation = 'DELETE' AND (x > 1)")
    );
    assert_eq!(cdc.truncates.as_deref(), Some("operation = 'TRUNCATE'"));
    assert_eq!(cdc.sequence_by, "struct(ts, seq)");
    assert_eq!(
        cdc.columns,
        Some(Columns::Except(vec!["operation".into(), "seq".into()]))
    );
    assert_eq!(cdc.scd_type, "1");
    let cdc = read_one(
        "APPLY CHANGES INTO t FROM STREAM changes KEYS (id) SEQUENCE BY seq COLUMNS id, name \
         STORED AS SCD TYPE 2 TRACK HISTORY ON * EXCEPT (name)",
    )
    .unwrap();
    assert_eq!(cdc.source, "changes");
    assert_eq!(
        cdc.columns,
        Some(Columns::Only(vec!["id".into(), "name".into()]))
    );
    assert_eq!(cdc.scd_type, "2");
    assert_eq!(
        cdc.track_history,
        Some(Columns::Except(vec!["name".into()]))
    );
}

#[test]
fn a_missing_clause_or_a_bad_type_is_a_syntax_error() {
    for (text, says) in [
        ("AUTO CDC INTO t FROM s SEQUENCE BY seq", "KEYS"),
        ("AUTO CDC INTO t FROM s KEYS (id)", "SEQUENCE BY"),
        (
            "AUTO CDC INTO t FROM s KEYS (id) SEQUENCE BY x STORED AS SCD TYPE 3",
            "1 or 2",
        ),
        (
            "AUTO CDC INTO t FROM s KEYS id SEQUENCE BY x",
            "parenthesised",
        ),
    ] {
        let e = read_one(text).unwrap_err();
        assert_eq!(e.class, "PARSE_SYNTAX_ERROR", "{text}");
        assert!(e.message.contains(says), "{text}: {}", e.message);
    }
    let e = read_one("AUTO CDC INTO t FROM (SELECT * FROM s) KEYS (id) SEQUENCE BY x").unwrap_err();
    assert_eq!(e.class, "LOCAL_ENGINE_UNSUPPORTED_OPTION");
    // Databricks clauses without a local counterpart are named, not syntax errors.
    for clause in [
        "SYSTEM SEQUENCE BY ingest_ts",
        "STORED AS BITEMPORAL",
        "COLUMNS TO UPDATE changed",
    ] {
        let text = format!("AUTO CDC INTO t FROM s KEYS (id) SEQUENCE BY x {clause}");
        let e = read_one(&text).unwrap_err();
        assert_eq!(e.class, "LOCAL_ENGINE_UNSUPPORTED_OPTION", "{clause}");
        assert!(e.message.contains(clause), "{}", e.message);
    }
    let text = "AUTO CDC INTO t FROM s KEYS (id) IGNORE NULL UPDATES ON (a) SEQUENCE BY x";
    assert!(read_one(text).unwrap().ignore_null_updates);
}

#[test]
fn the_companion_calls_sdp_cdc_with_every_clause() {
    let cdc = read_one(
        "CREATE FLOW f AS AUTO CDC INTO t FROM STREAM(c) KEYS (id) \
         APPLY AS DELETE WHEN op = \"D\" SEQUENCE BY seq COLUMNS * EXCEPT (op)",
    )
    .unwrap();
    let python = python("/Workspace/p/x.sql", &[cdc]);
    for part in [
        "name=\"f\"",
        "keys=[\"id\"]",
        "apply_as_deletes=\"op = \\\"D\\\"\"",
        "apply_as_truncates=None",
        "column_list=None",
        "except_column_list=[\"op\"]",
        "stored_as_scd_type=\"1\"",
        "sql=True",
    ] {
        assert!(python.contains(part), "{part} in {python}");
    }
}

#[test]
fn placeholders_keep_line_numbers() {
    let p = placeholder("CREATE FLOW f AS\nAUTO CDC INTO t\nFROM s", "flow f");
    assert_eq!(p.matches('\n').count(), 2);
    assert!(p.starts_with("/* flow f"));
}
