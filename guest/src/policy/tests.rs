use super::*;
use crate::payload::Side;
use serde_json::json;

fn policy(doc: Value) -> Policy {
    let doc = Document::parse(&doc.to_string()).expect("a valid policy");
    Policy::new(doc, None, None, false)
}

fn payload(side: Side, extra: Value) -> Payload {
    let mut doc = json!({
        "runner_path": "/Workspace/Shared/launcher.py",
        "question": "a bronze table over clickstream",
        "claude_endpoint": "databricks-claude-sonnet-4-5",
    });
    doc.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Payload::parse(&doc.to_string(), side).expect("valid payload")
}

fn config(catalog: &str, schema: &str, root: &str, files: &[&str]) -> PipelineConfig {
    PipelineConfig {
        pipeline_name: "p".into(),
        catalog: catalog.into(),
        schema: schema.into(),
        root_path: root.into(),
        workspace_file_paths: files.iter().map(|f| f.to_string()).collect(),
    }
}

/// The field a refusal names.
fn refused(result: Result<()>) -> String {
    match result {
        Err(Error::PolicyRefused(r)) => r.field,
        other => panic!("expected a policy refusal, got {other:?}"),
    }
}

#[test]
fn catalog_and_schema_globs() {
    let p = policy(json!({"catalogs": ["main", "dev_*"], "schemas": ["main.sales_?", "dev_*.*"]}));
    let root = "/Workspace/r";
    let files = ["/Workspace/r/a.sql"];
    assert!(
        p.check_config(&config("main", "sales_1", root, &files))
            .is_ok()
    );
    assert!(
        p.check_config(&config("MAIN", "Sales_2", root, &files))
            .is_ok()
    );
    assert!(
        p.check_config(&config("dev_alice", "anything", root, &files))
            .is_ok()
    );
    assert_eq!(
        refused(p.check_config(&config("prod", "sales_1", root, &files))),
        "catalog"
    );
    assert_eq!(
        refused(p.check_config(&config("main", "sales_10", root, &files))),
        "schema"
    );
    assert_eq!(
        refused(p.check_config(&config("main", "hr", root, &files))),
        "schema"
    );
    // An absent key is no limit.
    assert!(
        policy(json!({}))
            .check_config(&config("x", "y", root, &files))
            .is_ok()
    );
}

#[test]
fn every_path_under_the_root_and_never_in_the_launcher_folder() {
    let p = policy(json!({"root": "/Workspace/Users/team/pipelines"}));
    let root = "/Workspace/Users/team/pipelines/p";
    assert!(
        p.check_config(&config(
            "c",
            "s",
            root,
            &[
                "/Workspace/Users/team/pipelines/p/a.sql",
                "/Users/team/pipelines/p/b.py",
            ]
        ))
        .is_ok()
    );
    assert_eq!(
        refused(p.check_config(&config(
            "c",
            "s",
            "/Workspace/Users/team",
            &["/Workspace/Users/team/pipelines/p/a.sql"]
        ))),
        "root_path"
    );
    assert_eq!(
        refused(p.check_config(&config(
            "c",
            "s",
            root,
            &[
                "/Workspace/Users/team/pipelines/p/a.sql",
                "/Workspace/Users/team/pipelines/../secrets/b.sql",
            ]
        ))),
        "workspace_file_paths[1]"
    );

    let doc = Document::parse(r#"{"root": "/Workspace"}"#).unwrap();
    let launcher = "/Workspace/Users/deployer/.sdp-agent/sdp-agent";
    let p = Policy::new(doc, Some(launcher), None, false);
    assert_eq!(
        refused(p.check_config(&config(
            "c",
            "s",
            "/Workspace/Users/deployer/p",
            &[
                "/Workspace/Users/deployer/p/a.sql",
                "/Users/deployer/.sdp-agent/sdp-agent/sdp_agent_launcher.py",
            ]
        ))),
        "workspace_file_paths[1]"
    );
    // Without any document, the launcher folder is still refused.
    let p = Policy::new(Document::default(), Some(launcher), None, false);
    assert_eq!(
        refused(p.check_config(&config(
            "c",
            "s",
            launcher,
            &["/Workspace/Users/deployer/p/a.sql"]
        ))),
        "root_path"
    );
}

#[test]
fn python_only_when_allowed() {
    let files = ["/Workspace/r/a.sql", "/Workspace/r/b.py"];
    let sql_only = policy(json!({"python": false}));
    assert_eq!(
        refused(sql_only.check_config(&config("c", "s", "/Workspace/r", &files))),
        "workspace_file_paths[1]"
    );
    assert!(
        policy(json!({"python": true}))
            .check_config(&config("c", "s", "/Workspace/r", &files))
            .is_ok()
    );
    let given = payload(
        Side::Run,
        json!({"workspace_file_paths": ["/Workspace/r/b.py"],
               "sources": {"/Workspace/r/b.py": "import dlt"}}),
    );
    assert_eq!(
        refused(sql_only.check_payload(&given)),
        "sources./Workspace/r/b.py"
    );
}

#[test]
fn caller_sources_adopt_and_endpoint_from_the_payload() {
    let strict = policy(json!({
        "caller_sources": false, "adopt": false, "claude_endpoint": "databricks-claude-sonnet-4-5",
    }));
    assert!(strict.check_payload(&payload(Side::Run, json!({}))).is_ok());
    let files = json!({"workspace_file_paths": ["/Workspace/r/a.sql"]});
    assert_eq!(
        refused(strict.check_payload(&payload(Side::Run, files))),
        "workspace_file_paths"
    );
    let sources = json!({"workspace_file_paths": ["/Workspace/r/a.sql"],
                         "sources": {"/Workspace/r/a.sql": "SELECT 1"}});
    assert_eq!(
        refused(strict.check_payload(&payload(Side::Run, sources))),
        "sources"
    );
    assert_eq!(
        refused(strict.check_payload(&payload(Side::Run, json!({"adopt": true})))),
        "adopt"
    );
    let other = json!({"claude_endpoint": "my-expensive-endpoint"});
    assert_eq!(
        refused(strict.check_payload(&payload(Side::Run, other))),
        "claude_endpoint"
    );
    assert!(
        policy(json!({"adopt": true}))
            .check_payload(&payload(Side::Run, json!({"adopt": true})))
            .is_ok()
    );
}

#[test]
fn serving_rules_pin_the_job_and_keep_code_the_operators() {
    let pinned = Policy::new(Document::default(), None, Some(7), false);
    let mut p = payload(Side::Run, json!({"job_id": 9}));
    assert_eq!(refused(pinned.check_serving(&p)), "job_id");
    p.doc.insert("job_id".into(), json!(7));
    assert!(pinned.check_serving(&p).is_ok());

    let fixed = Policy::new(Document::default(), None, None, true);
    assert_eq!(
        refused(fixed.check_serving(&payload(Side::Predict, json!({})))),
        "runner_path"
    );
    let mut p = payload(
        Side::Predict,
        json!({"task_overrides": {"spark_python_task": {}}}),
    );
    p.doc.remove("runner_path");
    assert_eq!(refused(fixed.check_serving(&p)), "task_overrides");
    for (key, value) in [
        (
            "init_scripts",
            json!([{"workspace": {"destination": "/x.sh"}}]),
        ),
        ("docker_image", json!({"url": "evil/image"})),
        ("spark_env_vars", json!({"LD_PRELOAD": "/x.so"})),
    ] {
        let mut p = payload(
            Side::Run,
            json!({"new_cluster": {
                "spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1,
                key: value,
            }}),
        );
        p.doc.remove("runner_path");
        assert_eq!(
            refused(fixed.check_serving(&p)),
            format!("new_cluster.{key}")
        );
    }
    let mut p = payload(
        Side::Run,
        json!({"environments": [
            {"environment_key": "e", "spec": {"environment_version": "3", "dependencies": ["evil==1"]}},
        ]}),
    );
    p.doc.remove("runner_path");
    assert_eq!(
        refused(fixed.check_serving(&p)),
        "environments[0].spec.dependencies"
    );
    // Without the rule, the same payloads pass.
    assert!(Policy::default().check_serving(&p).is_ok());
}

#[test]
fn a_malformed_document_names_the_key() {
    for (text, named) in [
        (r#"{"catalog": ["main"]}"#, "unknown field `catalog`"),
        (r#"{"catalogs": "main"}"#, "policy.catalogs"),
        (r#"{"python": "yes"}"#, "policy.python"),
        (r#"{"schemas": ["main"]}"#, "policy.schemas[0]"),
        (r#"{"catalogs": ["[main"]}"#, "policy.catalogs[0]"),
        (r#"{"root": "Users/me"}"#, "policy.root"),
        (r#"{"root": "/Workspace/a/../b"}"#, "policy.root"),
        (r#"{"claude_endpoint": " "}"#, "policy.claude_endpoint"),
        ("[]", "policy"),
        ("{", "policy"),
    ] {
        let e = Document::parse(text).expect_err(text);
        assert!(e.contains(named), "{text}: {e}");
    }
    assert_eq!(Document::parse("{}").unwrap(), Document::default());
}

#[test]
fn deploys_default_root_inside_the_launcher_folder_is_the_only_part_written() {
    let launcher = "/Workspace/Users/deployer/.sdp-agent/sdp-agent";
    let doc = Document::parse(&json!({"root": format!("{launcher}/pipelines")}).to_string());
    let p = Policy::new(doc.unwrap(), Some(launcher), None, false);
    let root = "/Users/deployer/.sdp-agent/sdp-agent/pipelines/p";
    assert!(
        p.check_config(&config("c", "s", root, &[&format!("{root}/a.sql")]))
            .is_ok()
    );
    for (path, field) in [
        (
            format!("{launcher}/pipelines/../sdp_agent_launcher.py"),
            "workspace_file_paths[0]",
        ),
        (
            format!("{launcher}/app/app.yaml"),
            "workspace_file_paths[0]",
        ),
    ] {
        assert_eq!(
            refused(p.check_config(&config("c", "s", root, &[&path]))),
            field,
            "{path}"
        );
    }
    // A root that is one of the deployment's own folders carves nothing out.
    for own in ["app", "staging", ""] {
        let doc = Document::parse(&json!({"root": format!("{launcher}/{own}")}).to_string());
        let p = Policy::new(doc.unwrap(), Some(launcher), None, false);
        let root = format!("{launcher}/{own}/p");
        assert_eq!(
            refused(p.check_config(&config("c", "s", &root, &[&format!("{root}/a.sql")]))),
            "root_path",
            "{own}"
        );
    }
}

#[test]
fn a_warehouse_only_from_the_list() {
    let p = policy(json!({"warehouses": ["abc123"]}));
    let with = |id: &str| payload(Side::Run, json!({"wait": true, "warehouse_id": id}));
    assert!(p.check_payload(&with("abc123")).is_ok());
    assert_eq!(refused(p.check_payload(&with("other9"))), "warehouse_id");
    let none = policy(json!({"warehouses": []}));
    assert_eq!(refused(none.check_payload(&with("abc123"))), "warehouse_id");
    // No list is no limit, and no warehouse asks for nothing.
    assert!(policy(json!({})).check_payload(&with("other9")).is_ok());
    assert!(none.check_payload(&payload(Side::Run, json!({}))).is_ok());
    assert!(Document::parse(r#"{"warehouses": [" "]}"#).is_err());
}
