//! HTTPS for the load generator: a rustls client configuration (the platform's usual
//! web roots, `--cacert FILE` for a private CA or a self-signed certificate, or
//! `--insecure` to skip verification; `--cert`/`--key` for a server that asks for a
//! client certificate, mTLS), and the TLS session each connection drives over its own
//! non-blocking socket (rustls is sans-I/O: the connection moves the bytes).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::LoadError;

/// How to trust the target's certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TlsOptions {
    /// Accept any certificate (a self-signed test server): the connection is encrypted
    /// but the server is not authenticated.
    pub insecure: bool,
    /// Trust the certificates in this PEM file (besides the web roots).
    pub cacert: Option<std::path::PathBuf>,
    /// The client certificate chain to present (PEM), with `key` (mTLS).
    #[serde(default)]
    pub cert: Option<std::path::PathBuf>,
    /// The client certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key: Option<std::path::PathBuf>,
}

/// What every TLS connection of a run shares.
#[derive(Debug, Clone)]
pub struct TlsClient {
    /// The rustls configuration.
    pub config: Arc<ClientConfig>,
    /// The name the certificate must carry (the URL's host).
    pub server_name: ServerName<'static>,
}

impl TlsClient {
    /// The client for `host` as `options` say.
    pub fn new(host: &str, options: &TlsOptions) -> Result<Self, LoadError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| LoadError::Tls(e.to_string()))?;
        let builder = if options.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        } else {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(path) = &options.cacert {
                add_pem(&mut roots, path)?;
            }
            builder.with_root_certificates(roots)
        };
        let config =
            match (&options.cert, &options.key) {
                (Some(cert), Some(key)) => {
                    let (chain, private) = client_identity(cert, key)?;
                    builder.with_client_auth_cert(chain, private).map_err(|e| {
                        LoadError::Settings(format!(
                        "--cert {} with --key {}: {e} (does the key belong to the certificate?)",
                        cert.display(),
                        key.display()
                    ))
                    })?
                }
                (None, None) => builder.with_no_client_auth(),
                _ => return Err(LoadError::Settings(
                    "give --cert and --key together: the client certificate and its private key"
                        .into(),
                )),
            };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|e| LoadError::Settings(format!("{host:?} is not a TLS server name: {e}")))?;
        Ok(Self {
            config: Arc::new(config),
            server_name,
        })
    }

    /// The client for `target` when it is an `https://` one (None: plain HTTP).
    pub fn for_target(
        target: &super::Target,
        options: &TlsOptions,
    ) -> Result<Option<Self>, LoadError> {
        target
            .tls
            .then(|| Self::new(&target.host, options))
            .transpose()
    }

    /// A new session for one connection.
    pub fn session(&self) -> std::io::Result<rustls::ClientConnection> {
        rustls::ClientConnection::new(self.config.clone(), self.server_name.clone())
            .map_err(std::io::Error::other)
    }
}

/// The client certificate chain and its private key, read from PEM files (a file that
/// cannot be read or holds neither is bad input: exit 2, as a bad flag).
fn client_identity(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<
    (
        Vec<CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    LoadError,
> {
    let open = |path: &std::path::Path, flag: &str| {
        std::fs::File::open(path)
            .map(std::io::BufReader::new)
            .map_err(|e| LoadError::Settings(format!("cannot read {flag} {}: {e}", path.display())))
    };
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut open(cert, "--cert")?)
        .collect::<Result<_, _>>()
        .map_err(|e| LoadError::Settings(format!("--cert {}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(LoadError::Settings(format!(
            "--cert {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            cert.display()
        )));
    }
    let private = rustls_pemfile::private_key(&mut open(key, "--key")?)
        .map_err(|e| LoadError::Settings(format!("--key {}: {e}", key.display())))?
        .ok_or_else(|| {
            LoadError::Settings(format!(
                "--key {} holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA or EC)",
                key.display()
            ))
        })?;
    Ok((chain, private))
}

/// Adds the certificates of a PEM file to `roots`.
fn add_pem(roots: &mut rustls::RootCertStore, path: &std::path::Path) -> Result<(), LoadError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| LoadError::Tls(format!("cannot read --cacert {shown}: {e}")))?;
    let mut added = 0;
    for cert in rustls_pemfile::certs(&mut std::io::BufReader::new(file)) {
        let cert = cert.map_err(|e| LoadError::Tls(format!("--cacert {shown}: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| LoadError::Tls(format!("--cacert {shown}: {e}")))?;
        added += 1;
    }
    if added == 0 {
        return Err(LoadError::Tls(format!(
            "--cacert {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(())
}

/// `--insecure`: any certificate is accepted; signatures are still checked, so the
/// session is a real TLS session with an unauthenticated peer.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
