//! Statements, what they read, and the syntax errors a workspace reports.

use super::*;

fn one(sql: &str) -> Statement {
    let mut all = parse(sql).unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn names(reads: &[Read]) -> Vec<(&str, bool)> {
    reads
        .iter()
        .map(|r| (r.name.as_str(), r.streaming))
        .collect()
}

#[test]
fn datasets_and_what_they_read() {
    let s = one(
        "-- bronze\nCREATE OR REFRESH MATERIALIZED VIEW silver (\n  CONSTRAINT ok EXPECT (id IS NOT NULL) ON VIOLATION DROP ROW\n)\n\
         COMMENT 'x; y' AS WITH c AS (SELECT * FROM bronze b)\nSELECT * FROM c, main.s.other o JOIN LIVE.dim d ON c.id = d.id WHERE id > 1",
    );
    let Shape::Dataset {
        kind,
        name,
        or_refresh,
        columns,
        query,
    } = &s.shape
    else {
        panic!("{s:?}")
    };
    assert_eq!(*kind, DatasetKind::MaterializedView);
    assert_eq!(name, "silver");
    assert_eq!(*or_refresh, Some(1));
    assert!(columns.is_some() && query.is_some());
    assert_eq!(
        names(&s.reads),
        [("bronze", false), ("main.s.other", false), ("dim", false)]
    );
    assert_eq!(s.line, 2);
}

#[test]
fn streams_functions_and_flows() {
    let s =
        one("CREATE STREAMING TABLE b AS SELECT * FROM STREAM(a) UNION ALL SELECT * FROM STREAM x");
    assert_eq!(names(&s.reads), [("a", true), ("x", true)]);
    let s = one("CREATE MATERIALIZED VIEW r AS SELECT id FROM range(0, 10)");
    assert!(s.reads.is_empty());
    assert_eq!(s.functions, [("range".to_string(), false)]);
    let s = one("CREATE STREAMING TABLE t");
    assert!(matches!(s.shape, Shape::Dataset { query: None, .. }));
    let s = one("CREATE FLOW f AS INSERT INTO t BY NAME SELECT * FROM STREAM(a)");
    assert_eq!(
        s.shape,
        Shape::Flow {
            name: "f".into(),
            target: "t".into()
        }
    );
    assert_eq!(names(&s.reads), [("a", true)]);
    let s = one("AUTO CDC INTO t FROM STREAM(cdc) KEYS (id) SEQUENCE BY ts");
    assert_eq!(names(&s.reads), [("cdc", true)]);
    assert_eq!(
        parse("SET a = b; ; CREATE VIEW v AS SELECT 1")
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn syntax_errors() {
    for (sql, expected) in [
        (
            "CREATE MATERIALIZED VIEW x AS SELEC 1",
            "PARSE_SYNTAX_ERROR",
        ),
        ("SELEC * FROM x", "PARSE_SYNTAX_ERROR"),
        (
            "CREATE MATERIALIZED VIEW x AS SELECT (1",
            "PARSE_SYNTAX_ERROR",
        ),
        (
            "CREATE MATERIALIZED VIEW x AS SELECT 'oops",
            "PARSE_SYNTAX_ERROR",
        ),
        ("CREATE MATERIALIZED VIEW x SELECT 1", "PARSE_SYNTAX_ERROR"),
        ("CREATE OR WHAT VIEW x AS SELECT 1", "PARSE_SYNTAX_ERROR"),
        ("SELECT 1", "PIPELINE_SQL_GRAPH_ELEMENT_REGISTRATION_ERROR"),
    ] {
        let err = parse(sql).unwrap_err();
        assert_eq!(err.class, expected, "{sql}: {err:?}");
        assert!(err.message.starts_with(&format!("[{expected}]")), "{err:?}");
    }
    let err = parse("CREATE MATERIALIZED VIEW x AS\nSELEC 1").unwrap_err();
    assert!(
        err.message.contains("'SELEC'") && err.message.contains("line 2"),
        "{err:?}"
    );
}

#[test]
fn byte_ranges_cover_the_source() {
    let text = "CREATE VIEW `é x` AS SELECT 'a''b' AS s";
    let toks = lex(text).unwrap();
    let rebuilt: String = toks
        .iter()
        .map(|t| text[t.bytes.clone()].to_string())
        .collect();
    assert_eq!(rebuilt.replace(' ', ""), text.replace(' ', ""));
    assert_eq!(&text[toks[2].bytes.clone()].trim_end(), &"`é x`");
}
