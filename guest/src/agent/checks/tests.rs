use super::*;

fn rules(sql: &str) -> Rules {
    let files = BTreeMap::from([("/p/t.sql".to_string(), sql.to_string())]);
    Declared::read(&files).0.of("main.s.t")
}

fn counted(dropped: u64, expectations: &[(&str, u64, u64)]) -> flows::Counted {
    flows::Counted {
        rows: Some(10),
        dropped: Some(dropped),
        expectations: expectations
            .iter()
            .map(|(n, p, f)| (n.to_string(), (*p, *f)))
            .collect(),
    }
}

#[test]
fn a_drop_expectation_dropped_its_failed_records_a_warning_none() {
    let r = rules(
        "CREATE TABLE t (CONSTRAINT valid EXPECT (id IS NOT NULL) ON VIOLATION DROP ROW, \
         CONSTRAINT cheap EXPECT (price < 10)) AS SELECT 1",
    );
    let found = expectations(
        &counted(2, &[("valid", 8, 2), ("cheap", 7, 3), ("elsewhere", 1, 1)]),
        &r,
    )
    .unwrap();
    let dropped = |n: &str| found[n].dropped;
    assert_eq!(dropped("valid"), Some(2));
    assert_eq!(dropped("cheap"), Some(0));
    // Declared in no source the run wrote, in a table that dropped rows: unknown.
    assert_eq!(dropped("elsewhere"), None);
    assert_eq!((found["cheap"].passed, found["cheap"].failed), (7, 3));
    // A table that dropped nothing: every expectation dropped nothing.
    let none = expectations(&counted(0, &[("elsewhere", 1, 1)]), &r).unwrap();
    assert_eq!(none["elsewhere"].dropped, Some(0));
    assert_eq!(expectations(&counted(0, &[]), &r), None);
}

#[test]
fn the_progress_line_says_what_was_counted() {
    let mut t = TableChecks {
        table: "main.s.t".into(),
        rows: None,
        null_keys: None,
        duplicate_keys: None,
        expectations: None,
    };
    assert_eq!(t.to_string(), "checks main.s.t: nothing counted");
    t.rows = Some(10);
    t.duplicate_keys = Some(1);
    t.null_keys = Some(BTreeMap::from([("id".into(), 0)]));
    t.expectations = Some(BTreeMap::from([(
        "valid".into(),
        Expectation {
            passed: 9,
            failed: 1,
            dropped: Some(1),
        },
    )]));
    assert_eq!(
        t.to_string(),
        "checks main.s.t: 10 rows; 1 duplicate keys; NULL keys: id 0; expectations: valid 9 \
         passed / 1 failed / 1 dropped"
    );
}
