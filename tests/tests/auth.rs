//! Credentials, resolved in the host like the Databricks SDKs (environment, then a
//! `~/.databrickscfg` profile), proved from the workspace's side: what the emulator received,
//! and what the agent printed. OAuth M2M tokens (fetched and refreshed) are in `auth_oauth.rs`.

mod common;

use common::credentials::*;
use common::*;
use sdp_emulator::EmulatorConfig;

#[test]
fn a_personal_access_token_from_the_environment_is_sent_by_the_host() {
    let emu = emulator();
    let out = predict(&emu, &full_payload(&emu, "pat_env"));
    out.assert_ok();
    assert_all_carried(&emu, &format!("Bearer {}", emu.token().unwrap()));
    assert!(token_requests(&emu).is_empty());
}

#[test]
fn a_profile_supplies_host_and_token_named_by_env_var_or_flag() {
    let emu = emulator_with(EmulatorConfig {
        token: Some("dapi-from-profile".into()),
        ..Default::default()
    });
    let home = TempDir::new("profiles");
    let config = home.write(
        "team.databrickscfg",
        &format!(
            "; profiles for the e2e test\n\
             [DEFAULT]\n\
             host = http://127.0.0.1:9\n\
             token = dapi-decoy-default\n\
             [decoy]\n\
             host = {url}\n\
             token = dapi-decoy\n\
             [ci]\n\
             host = {url}/\n\
             token = dapi-from-profile\n",
            url = emu.url()
        ),
    );
    let expected = "Bearer dapi-from-profile";

    let mut by_env = bare_command(&emu, home.path());
    by_env
        .env("DATABRICKS_CONFIG_FILE", &config)
        .env("DATABRICKS_CONFIG_PROFILE", "ci");
    predict_with(by_env, &emu, &[]).assert_ok();
    assert_all_carried(&emu, expected);

    // --profile overrides DATABRICKS_CONFIG_PROFILE (the decoy's token would answer 401).
    let seen = emu.requests().len();
    let mut by_flag = bare_command(&emu, home.path());
    by_flag
        .env("DATABRICKS_CONFIG_FILE", &config)
        .env("DATABRICKS_CONFIG_PROFILE", "decoy");
    predict_with(by_flag, &emu, &["--profile", "ci"]).assert_ok();
    assert!(emu.requests().len() > seen);
    assert_all_carried(&emu, expected);

    // An environment value wins over the profile's for the same setting.
    let seen = emu.requests().len();
    let mut env_wins = bare_command(&emu, home.path());
    env_wins
        .env("DATABRICKS_CONFIG_FILE", &config)
        .env("DATABRICKS_TOKEN", "dapi-from-profile");
    predict_with(env_wins, &emu, &["--profile", "decoy"]).assert_ok();
    assert!(emu.requests().len() > seen);
    assert_all_carried(&emu, expected);
}

#[test]
fn the_default_profile_of_the_home_config_file_is_used_when_nothing_else_is_set() {
    let emu = emulator();
    let home = TempDir::new("home");
    home.write(
        ".databrickscfg",
        &format!(
            "[DEFAULT]\nhost = {}\ntoken = {}\n",
            emu.url(),
            emu.token().unwrap()
        ),
    );
    predict_with(bare_command(&emu, home.path()), &emu, &[]).assert_ok();
    assert_all_carried(&emu, &format!("Bearer {}", emu.token().unwrap()));
}

#[test]
fn misconfigurations_exit_1_with_a_clear_config_error_and_send_nothing() {
    let emu = emulator();
    let home = TempDir::new("misconfig");
    let profiles = home.write(
        "profiles.cfg",
        "[DEFAULT]\nhost = http://127.0.0.1:9\ntoken = dapi-x\n[ci]\nhost = http://127.0.0.1:9\n",
    );
    let broken = home.write("broken.cfg", "[ci\nhost = x\n");
    let url = emu.url();
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "nothing set",
            vec![],
            vec![],
            vec!["no workspace host", "DATABRICKS_HOST"],
        ),
        (
            "two methods",
            vec![
                ("DATABRICKS_HOST", &url),
                ("DATABRICKS_TOKEN", "dapi-x"),
                ("DATABRICKS_CLIENT_ID", CLIENT_ID),
                ("DATABRICKS_CLIENT_SECRET", CLIENT_SECRET),
            ],
            vec![],
            vec![
                "validate: more than one authorization method configured",
                "DATABRICKS_TOKEN (environment)",
                "DATABRICKS_CLIENT_ID (environment)",
            ],
        ),
        (
            "unknown profile",
            vec![("DATABRICKS_CONFIG_FILE", profiles.to_str().unwrap())],
            vec!["--profile", "prod"],
            vec![
                "profile [prod] (named by --profile) is not in",
                "profiles there: [DEFAULT], [ci]",
            ],
        ),
        (
            "invalid file",
            vec![
                ("DATABRICKS_CONFIG_FILE", broken.to_str().unwrap()),
                ("DATABRICKS_CONFIG_PROFILE", "ci"),
            ],
            vec![],
            vec!["broken.cfg is not valid"],
        ),
        (
            "profile without credentials",
            vec![("DATABRICKS_CONFIG_FILE", profiles.to_str().unwrap())],
            vec!["--profile", "ci"],
            vec!["no credentials", "profile [ci]"],
        ),
        (
            "half an M2M pair",
            vec![
                ("DATABRICKS_HOST", &url),
                ("DATABRICKS_CLIENT_ID", CLIENT_ID),
            ],
            vec![],
            vec![
                "incomplete OAuth M2M credentials",
                "DATABRICKS_CLIENT_SECRET",
            ],
        ),
    ];
    for (name, vars, flags, expected) in cases {
        let mut cmd = bare_command(&emu, home.path());
        cmd.envs(vars);
        let out = predict_with(cmd, &emu, &flags);
        let message = failure(&out, "config");
        for part in expected {
            assert!(message.contains(part), "{name}: {message}");
        }
        assert!(
            !message.contains(CLIENT_SECRET) && !message.contains("dapi-x"),
            "{name}: {message}"
        );
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}
