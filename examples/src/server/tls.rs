//! HTTPS with rustls: a PEM certificate chain and key (`--tls-cert-file`,
//! `--tls-key-file`), read at start and re-read on reload. `axum-server`'s
//! `RustlsConfig` swaps the certificate atomically: connections already open keep theirs,
//! new handshakes get the new one, and a reload that fails to read or parse the files
//! keeps the old certificate. rustls runs on the `ring` crypto provider.

use std::path::{Path, PathBuf};
use std::sync::Once;

use axum_server::tls_rustls::RustlsConfig;

/// The server's certificate and where it is re-read from.
#[derive(Clone)]
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    config: RustlsConfig,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Why certificates could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("cannot load the TLS certificate {cert} and key {key}: {source}")]
pub struct TlsError {
    cert: PathBuf,
    key: PathBuf,
    source: std::io::Error,
}

static PROVIDER: Once = Once::new();

/// Makes `ring` the process's rustls crypto provider (once).
pub fn install_crypto_provider() {
    PROVIDER.call_once(|| {
        // Fails only if another provider was installed first, which then serves.
        #[expect(
            deprecated,
            reason = "ring has no post-quantum key exchange; aws-lc-rs, which has, needs a C/CMake \
                      build of its own that this project does not take on for a loopback default"
        )]
        let provider = rustls::crypto::ring::default_provider();
        let _ = provider.install_default();
    });
}

impl Tls {
    /// Reads the certificate chain and key.
    pub async fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        install_crypto_provider();
        let config = RustlsConfig::from_pem_file(cert, key)
            .await
            .map_err(|source| TlsError {
                cert: cert.to_owned(),
                key: key.to_owned(),
                source,
            })?;
        Ok(Tls {
            cert: cert.to_owned(),
            key: key.to_owned(),
            config,
        })
    }

    /// Checks that the files still load, without installing them: the first half of an
    /// all-or-nothing reload.
    pub async fn check(&self) -> Result<(), TlsError> {
        Tls::load(&self.cert, &self.key).await.map(|_| ())
    }

    /// Re-reads the files and installs the new certificate for new connections; on
    /// failure the old one stays.
    pub async fn reload(&self) -> Result<(), TlsError> {
        self.config
            .reload_from_pem_file(&self.cert, &self.key)
            .await
            .map_err(|source| TlsError {
                cert: self.cert.clone(),
                key: self.key.clone(),
                source,
            })
    }

    /// What `axum-server` serves with.
    pub fn rustls_config(&self) -> RustlsConfig {
        self.config.clone()
    }
}
