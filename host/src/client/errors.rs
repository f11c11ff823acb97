//! What a failed request is, in wasi-http's terms: the closest `ErrorCode` for an error from
//! hyper, hyper-util, rustls or the OS, so the guest can tell a refused connection from a
//! certificate problem.

use std::error::Error as StdError;
use std::io;
use wasmtime_wasi_http::Error;

/// Maps an error from hyper / hyper-util / rustls / the OS to the closest wasi-http code.
pub fn classify(err: &(dyn StdError + 'static)) -> Error {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(mapped) = classify_one(e) {
            return mapped;
        }
        // `io::Error::source` skips the wrapped error itself; look inside explicitly.
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            let inner: &(dyn StdError + 'static) = inner;
            let mapped = classify(inner);
            if !matches!(mapped, Error::InternalError(_)) {
                return mapped;
            }
        }
        current = e.source();
    }
    if err.to_string().contains("dns error") {
        return dns_error(err);
    }
    Error::InternalError(Some(error_chain(err)))
}

fn classify_one(e: &(dyn StdError + 'static)) -> Option<Error> {
    if e.to_string() == "dns error" {
        return Some(dns_error(e));
    }
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(match tls {
            rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType => Error::TlsCertificateError,
            rustls::Error::AlertReceived(alert) => Error::TlsAlertReceived {
                alert_id: Some(u8::from(*alert)),
                alert_message: Some(format!("{alert:?}")),
            },
            _ => Error::TlsProtocolError,
        });
    }
    if let Some(io) = e.downcast_ref::<io::Error>() {
        let mapped = match io.kind() {
            io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
            io::ErrorKind::TimedOut => Error::ConnectionTimeout,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => Error::ConnectionTerminated,
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                Error::DestinationUnavailable
            }
            io::ErrorKind::AddrNotAvailable => Error::DestinationIpUnroutable,
            _ => return None,
        };
        return Some(mapped);
    }
    if let Some(h) = e.downcast_ref::<hyper::Error>() {
        // A body error of the guest's own request surfaces as the user error hyper wraps.
        if h.is_user()
            && let Some(source) = h.source()
            && let Some(own) = source.downcast_ref::<Error>()
        {
            return Some(clone_guest_error(own));
        }
        if h.is_timeout() {
            return Some(Error::HttpResponseTimeout);
        }
        if h.is_incomplete_message() {
            return Some(Error::HttpResponseIncomplete);
        }
        if h.is_canceled() || h.is_closed() {
            return Some(Error::ConnectionTerminated);
        }
        if h.is_parse() || h.is_parse_status() {
            return Some(Error::HttpProtocolError);
        }
        // Other hyper errors may carry an io::Error below: keep walking.
        return None;
    }
    None
}

/// Errors produced while reading the guest's outgoing body (e.g. a body longer than its
/// `Content-Length`) go back to the guest unchanged where that is meaningful.
fn clone_guest_error(e: &Error) -> Error {
    match e {
        Error::HttpRequestBodySize(n) => Error::HttpRequestBodySize(*n),
        other => Error::InternalError(Some(other.to_string())),
    }
}

fn dns_error(e: &(dyn StdError + 'static)) -> Error {
    Error::DnsError {
        rcode: Some(error_chain(e)),
        info_code: None,
    }
}

/// `outer: inner: innermost`, for messages that end up in the guest's error string.
fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut current = e.source();
    while let Some(s) = current {
        parts.push(s.to_string());
        current = s.source();
    }
    parts.dedup();
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_kinds_map_to_wasi_codes() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(matches!(classify(&refused), Error::ConnectionRefused));
        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "connect timeout");
        assert!(matches!(classify(&timed_out), Error::ConnectionTimeout));
        // Wrapped the way hyper-rustls wraps a TLS failure.
        let tls = io::Error::other(io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        ));
        assert!(matches!(classify(&tls), Error::TlsCertificateError));
        let other = io::Error::other("weird");
        assert!(matches!(classify(&other), Error::InternalError(Some(m)) if m == "weird"));
    }
}
