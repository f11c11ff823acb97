//! A server on loopback is not a web origin. A web page can still make a browser send it
//! requests: with DNS rebinding (`attacker.example` resolving to 127.0.0.1, so `Host:
//! attacker.example`) or as a cross-site POST (`Origin: https://attacker.example`). Both name
//! another host than this machine, so both are refused.

use http::header::{HOST, ORIGIN};
use http::uri::Authority;
use http::{HeaderMap, Method, Uri};
use std::net::{IpAddr, SocketAddr};

/// The names a local client uses for this machine.
const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// The check of a server bound to a loopback address.
pub struct Loopback {
    bound: IpAddr,
}

impl Loopback {
    /// `None` when `listen` is not loopback: then who may call is `--callers`' business.
    pub fn of(listen: SocketAddr) -> Option<Self> {
        listen
            .ip()
            .is_loopback()
            .then_some(Self { bound: listen.ip() })
    }

    /// Why a request with these `headers` is not from this machine, if it is not.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), String> {
        // HTTP/1.0 clients may send no Host at all: nothing names another host then.
        if let Some(host) = headers.get(HOST) {
            let local = host
                .to_str()
                .ok()
                .and_then(|h| h.parse::<Authority>().ok())
                .is_some_and(|a| self.is_local(a.host()));
            if !local {
                return Err(format!(
                    "Host {:?} is not this machine: a server on loopback answers requests \
                     for localhost, 127.0.0.1 or [::1] only",
                    String::from_utf8_lossy(host.as_bytes())
                ));
            }
        }
        if *method != Method::GET && *method != Method::HEAD {
            for origin in headers.get_all(ORIGIN) {
                let local = origin
                    .to_str()
                    .ok()
                    .and_then(|o| o.parse::<Uri>().ok())
                    .filter(|u| matches!(u.scheme_str(), Some("http" | "https")))
                    .and_then(|u| u.authority().map(|a| self.is_local(a.host())))
                    .unwrap_or(false);
                if !local {
                    return Err(format!(
                        "a {method} from the web page of {:?}: a server on loopback accepts \
                         no requests from other origins",
                        String::from_utf8_lossy(origin.as_bytes())
                    ));
                }
            }
        }
        Ok(())
    }

    fn is_local(&self, host: &str) -> bool {
        LOCAL_NAMES.iter().any(|n| n.eq_ignore_ascii_case(host))
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip == self.bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_this_machine_by_name() {
        let on = Loopback::of("127.0.0.2:8080".parse().unwrap()).unwrap();
        assert!(Loopback::of("0.0.0.0:8080".parse().unwrap()).is_none());
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1:1",
            "[::1]:8080",
            "127.0.0.2:8080",
        ] {
            assert_eq!(
                on.check(&Method::POST, &headers(&[("host", host)])),
                Ok(()),
                "{host}"
            );
        }
        assert!(on.check(&Method::GET, &headers(&[])).is_ok());
        for host in [
            "attacker.example",
            "attacker.example:8080",
            "localhost.attacker.example",
            "127.0.0.3",
            "",
        ] {
            let refused = on.check(&Method::GET, &headers(&[("host", host)]));
            assert!(refused.is_err(), "{host}");
        }
    }

    #[test]
    fn posts_from_other_origins_are_refused() {
        let on = Loopback::of("127.0.0.1:8080".parse().unwrap()).unwrap();
        let local = ("host", "127.0.0.1:8080");
        for origin in [
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "https://[::1]",
        ] {
            let ok = on.check(&Method::POST, &headers(&[local, ("origin", origin)]));
            assert_eq!(ok, Ok(()), "{origin}");
        }
        for origin in [
            "https://attacker.example",
            "null",
            "file://",
            "http://127.0.0.9",
        ] {
            let refused = on.check(&Method::POST, &headers(&[local, ("origin", origin)]));
            assert!(refused.is_err(), "{origin}");
        }
        let get = on.check(
            &Method::GET,
            &headers(&[local, ("origin", "https://attacker.example")]),
        );
        assert!(get.is_ok(), "a GET changes nothing");
    }
}
