//! Whether `serve`'s caller flags add up: the policy it runs with, or a one-line usage error
//! (exit 2) before anything is loaded.

use crate::cli::CallerPolicy;
use crate::env::APP_PORT_ENV;
use std::net::SocketAddr;

/// The policy `serve` runs with, or the one-line usage error (exit 2) when the flags do not
/// add up. `app_port`: `DATABRICKS_APP_PORT` when this process runs as a Databricks App. The
/// second value is a warning to print at start.
pub fn choose(
    listen: SocketAddr,
    callers: Option<CallerPolicy>,
    groups: &[String],
    app_port: Option<&str>,
) -> Result<(CallerPolicy, Option<String>), String> {
    let loopback = listen.ip().is_loopback();
    let policy = match callers {
        Some(policy) => policy,
        None if loopback => CallerPolicy::None,
        None => {
            return Err(format!(
                "refusing to listen on {listen} without --callers: say who may call it \
                 (--callers workspace, app or none)"
            ));
        }
    };
    if groups.iter().any(|g| g.trim().is_empty()) {
        return Err("--allow-group: a group name cannot be empty".into());
    }
    match policy {
        CallerPolicy::None if !groups.is_empty() => {
            Err("--allow-group needs --callers workspace or app (none checks nobody)".into())
        }
        CallerPolicy::App => match app_port {
            None => Err(format!(
                "--callers app trusts the headers of the Databricks Apps proxy, so it only runs \
                 inside an App ({APP_PORT_ENV} is not set); use --callers workspace elsewhere"
            )),
            // Only the proxy's port is behind the proxy: another would take forged headers.
            Some(port) if port.trim().parse::<u16>().ok() != Some(listen.port()) => Err(format!(
                "--callers app: --listen {listen} is not on {APP_PORT_ENV} ({port}), the port \
                 the Databricks Apps proxy forwards to"
            )),
            Some(_) => Ok((policy, None)),
        },
        CallerPolicy::None if !loopback => Ok((
            policy,
            Some(format!(
                "warning: --callers none on {listen}: anyone who can reach this port can start \
                 job runs with this deployment's credentials"
            )),
        )),
        _ => Ok((policy, None)),
    }
}

/// `DATABRICKS_APP_PORT` when this process runs as a Databricks App.
pub fn app_port() -> Option<String> {
    std::env::var(APP_PORT_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_from_the_flags() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let v6_local: SocketAddr = "[::1]:8080".parse().unwrap();
        let open: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let (no_app, in_app) = (None, Some("8080"));
        let groups = vec!["data-eng".to_string()];
        let (workspace, app, nobody) = (
            CallerPolicy::Workspace,
            CallerPolicy::App,
            CallerPolicy::None,
        );
        assert_eq!(choose(local, None, &[], no_app), Ok((nobody, None)));
        assert_eq!(choose(v6_local, None, &[], no_app), Ok((nobody, None)));
        let refused = choose(open, None, &[], no_app).unwrap_err();
        assert!(
            refused.contains("--callers") && !refused.contains('\n'),
            "{refused}"
        );
        let (policy, warning) = choose(open, Some(nobody), &[], no_app).unwrap();
        assert_eq!(policy, nobody);
        assert!(warning.unwrap().contains("anyone"));
        assert_eq!(
            choose(open, Some(workspace), &groups, no_app),
            Ok((workspace, None))
        );
        let err = choose(local, Some(nobody), &groups, no_app).unwrap_err();
        assert!(err.contains("--allow-group"), "{err}");
        let err = choose(local, Some(workspace), &["".into()], no_app).unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let outside = choose(open, Some(app), &[], no_app).unwrap_err();
        assert!(outside.contains(APP_PORT_ENV), "{outside}");
        assert_eq!(choose(open, Some(app), &groups, in_app), Ok((app, None)));
        let elsewhere = choose(open, Some(app), &groups, Some("8000")).unwrap_err();
        assert!(elsewhere.contains("8000"), "{elsewhere}");
    }
}
