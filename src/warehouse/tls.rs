//! TLS to PostgreSQL with rustls, by libpq's `sslmode` rules (Amazon RDS for PostgreSQL 15+ and
//! Aurora force TLS; Redshift takes it):
//!
//! | sslmode | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | if the server offers it | not checked (as libpq), unless `sslrootcert` is given |
//! | `require` | always | not checked, unless `sslrootcert` is given (then as `verify-ca`, as libpq) |
//! | `verify-ca` | always | signed by a trusted root |
//! | `verify-full` | always | signed by a trusted root, and issued for the host connected to |
//!
//! Trusted roots: the PEM file `sslrootcert` only, when given (as libpq); else the system's
//! (rustls-native-certs), and then `verify-ca` checks the name too, as libpq's `sslrootcert=system`
//! does: any public CA vouches for some host, so a chain to one proves nothing without the name.
//! "Not checked" still checks the handshake's signatures: only the certificate goes unverified.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::settings::{PgTls, TlsMode};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read sslrootcert {path}: {reason}")]
    RootCert { path: String, reason: String },
    #[error("sslmode={mode} needs a trusted root certificate: none in the system store, and no sslrootcert given")]
    NoRoots { mode: &'static str },
    #[error("cannot set up TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The connector for `tls` (with `sslmode=disable` tokio-postgres never calls it).
pub fn connector(tls: &PgTls) -> Result<MakeRustlsConnect, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mode = match (tls.mode, &tls.root_cert) {
        // libpq: with a root certificate file, require and prefer verify the chain.
        (TlsMode::Prefer | TlsMode::Require, Some(_)) => TlsMode::VerifyCa,
        // With the system's roots, the chain alone proves nothing (libpq's sslrootcert=system).
        (TlsMode::VerifyCa, None) => TlsMode::VerifyFull,
        (mode, _) => mode,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => Arc::new(Unverified(provider.clone())),
        TlsMode::VerifyCa | TlsMode::VerifyFull => {
            let roots = roots(tls)?;
            if roots.is_empty() {
                return Err(TlsError::NoRoots { mode: mode.as_str() });
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|err| rustls::Error::General(err.to_string()))?;
            if mode == TlsMode::VerifyFull { webpki } else { Arc::new(AnyName(webpki)) }
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The `sslrootcert` file's roots, else the system's.
fn roots(tls: &PgTls) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let Some(path) = &tls.root_cert else {
        // A system without a CA bundle (a scratch image without one) has none: NoRoots then.
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        return Ok(roots);
    };
    let error = |reason: String| TlsError::RootCert { path: path.display().to_string(), reason };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|err| error(err.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|err| error(err.to_string()))?;
    if certs.is_empty() {
        return Err(error("no PEM certificate in it".into()));
    }
    for cert in certs {
        roots.add(cert).map_err(|err| error(err.to_string()))?;
    }
    Ok(roots)
}

/// `verify-ca`: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer`/`require` without a root file: encryption without checking who the server is, as
/// libpq does. The handshake's signatures are still verified.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
