//! Which TLS roots the client trusts: the Mozilla ones, plus any in `SSL_CERT_FILE`.

use crate::env::CA_FILE_ENV;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;

/// The Mozilla roots, plus every certificate of `ca_file` (which must hold at least one).
pub fn root_store(ca_file: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let Some(path) = ca_file else {
        return Ok(roots);
    };
    let what = || format!("{CA_FILE_ENV}={}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("{}: {e}", what()))?;
    let (added, _unparsable) = roots.add_parsable_certificates(certs);
    if added == 0 {
        anyhow::bail!("{}: no usable PEM certificate in it", what());
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed test CA (P-256, CN=sdp-agent-test-ca); its key was thrown away.
    const TEST_CA_PEM: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBkDCCATWgAwIBAgIUUTzirwtvHUz8DUBntLzbbjHQm4MwCgYIKoZIzj0EAwIw\n\
HDEaMBgGA1UEAwwRc2RwLWFnZW50LXRlc3QtY2EwIBcNMjYxMTI2MTkyNzUwWhgP\n\
MjEyNjExMDIxOTI3NTBaMBwxGjAYBgNVBAMMEXNkcC1hZ2VudC10ZXN0LWNhMFkw\n\
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2o9hmq7P09xi43uvHpelY/T8CLD9A7FE\n\
k9U3vxxMFZwBDuGzkGayWF6lUYI5e1gOY7TOThk5GuKF2xC3M8Wj0KNTMFEwHQYD\n\
VR0OBBYEFOpnQyD6mbn2GWqLpUWLiIbB8wTyMB8GA1UdIwQYMBaAFOpnQyD6mbn2\n\
GWqLpUWLiIbB8wTyMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIh\n\
ANhoAJsYgShjmOOgjN7EZtTyFPmmVz8+ev4C4ft3EgXYAiEAvhTSNEVErI92qgGf\n\
+TacPicD7636ZtalhG8h1X7IcBM=\n\
-----END CERTIFICATE-----\n\
";

    #[test]
    fn extra_roots_come_from_a_pem_bundle() {
        let mozilla = root_store(None).unwrap().len();
        let dir = std::env::temp_dir().join(format!("sdp-agent-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = dir.join("bundle.pem");
        std::fs::write(&bundle, TEST_CA_PEM).unwrap();
        assert_eq!(root_store(Some(&bundle)).unwrap().len(), mozilla + 1);
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let err = root_store(Some(&empty)).unwrap_err().to_string();
        assert!(
            err.contains("SSL_CERT_FILE") && err.contains("no usable"),
            "{err}"
        );
        let err = root_store(Some(&dir.join("missing.pem")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.pem"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
