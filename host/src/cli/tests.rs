//! Flag parsing: defaults, bounds, and global flags anywhere on the line.

use super::*;

fn serve_args(args: &[&str]) -> Result<ServeArgs, clap::Error> {
    let cli = Cli::try_parse_from([&["sdp-agent", "serve"], args].concat())?;
    match cli.command {
        Command::Serve(args) => Ok(args),
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn serve_defaults_and_bounds() {
    let args = serve_args(&[]).unwrap();
    assert_eq!(args.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(args.max_concurrency, None);
    assert_eq!(args.max_queue, 64);
    assert_eq!(args.max_body_bytes, 1024 * 1024);
    assert_eq!(args.request_timeout, 60);
    assert_eq!((args.callers, args.allow_group.len()), (None, 0));
    assert_eq!(args.metrics_listen, None);
    assert!(!args.metrics_public && args.accept_scope.is_empty());
    assert_eq!((args.checks_per_address, args.checks_per_second), (10, 50));

    let args = serve_args(&["--listen", "0.0.0.0:0", "--max-concurrency", "2"]).unwrap();
    assert_eq!(args.listen.port(), 0);
    assert_eq!(args.max_concurrency, Some(2));
    let args = serve_args(&[
        "--callers",
        "workspace",
        "--allow-group",
        "data-eng",
        "--allow-group",
        "admins",
        "--metrics-listen",
        "127.0.0.1:9464",
    ])
    .unwrap();
    assert_eq!(args.callers, Some(CallerPolicy::Workspace));
    assert_eq!(args.allow_group, ["data-eng", "admins"]);
    assert_eq!(args.metrics_listen.unwrap().port(), 9464);
    for bad in [
        &["--max-concurrency", "0"][..],
        &["--request-timeout", "0"],
        &["--listen", "localhost"],
        &["--callers", "everyone"],
        &["--metrics-listen", "9464"],
        &["--checks-per-address", "0"],
        &["--checks-per-second", "0"],
    ] {
        assert!(serve_args(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn global_flags_anywhere() {
    let cli = Cli::try_parse_from([
        "sdp-agent",
        "predict",
        "{}",
        "--allow-host",
        "api.example.com:443",
        "--timeout",
        "5",
        "--allow-host",
        "other.example.com",
    ])
    .unwrap();
    assert_eq!(cli.timeout, 5);
    assert_eq!(cli.allow_host.len(), 2);
    assert_eq!(cli.max_memory, crate::limits::DEFAULT_MAX_MEMORY_MIB);
    let cli = Cli::try_parse_from(["sdp-agent", "run", "--max-memory", "64", "x"]).unwrap();
    assert_eq!(cli.max_memory, 64);
    assert!(Cli::try_parse_from(["sdp-agent", "--max-memory", "0", "predict"]).is_err());
    assert!(Cli::try_parse_from(["sdp-agent", "--timeout", "0", "predict"]).is_err());
    assert!(Cli::try_parse_from(["sdp-agent", "--allow-host", "a/b", "predict"]).is_err());
}
