//! A node's identity on disk: its Ed25519 key and self-signed certificate (so its
//! fingerprint is stable across restarts) and, for a host, its session key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use canopy_protocol::{Fingerprint, SessionId};
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;

/// Key material a node keeps in its data directory.
pub struct Identity {
    /// The node's Ed25519 key: TLS identity and the subject of its authority.
    pub key: Ed25519KeyPair,
    /// PKCS#8 of `key`, for rustls.
    pub key_der: Vec<u8>,
    /// The self-signed certificate (DER).
    pub certificate: Vec<u8>,
    /// SHA-256 of `certificate`, pinned by join URLs.
    pub fingerprint: Fingerprint,
}

/// The default data directory (XDG: `~/.local/share/canopy`).
pub fn default_data_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("org", "canopy", "canopy")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .context("no home directory to keep Canopy's data in; pass --data DIR")
}

/// Loads (or on first use creates) the identity in `dir`.
pub fn load_or_create(dir: &Path) -> Result<Identity> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    let key_path = dir.join("node.key");
    let cert_path = dir.join("node.crt");
    if !key_path.exists() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
            .context("generating the node key")?;
        let params = rcgen::CertificateParams::new(vec!["canopy".to_string()])
            .context("certificate parameters")?;
        let certificate = params
            .self_signed(&key)
            .context("self-signing the node certificate")?;
        write_private(&key_path, &key.serialize_der())?;
        std::fs::write(&cert_path, certificate.der().as_ref())
            .with_context(|| format!("writing {}", cert_path.display()))?;
    }
    let key_der =
        std::fs::read(&key_path).with_context(|| format!("reading {}", key_path.display()))?;
    let certificate =
        std::fs::read(&cert_path).with_context(|| format!("reading {}", cert_path.display()))?;
    let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&key_der)
        .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 key: {e}", key_path.display()))?;
    Ok(Identity {
        fingerprint: Fingerprint::of_certificate(&certificate),
        key,
        key_der,
        certificate,
    })
}

/// The key of the session this node hosts by default (`DATA/session.key`), made on
/// first use. Every session key is also kept as `DATA/keys/SESSION.key`, so older
/// sessions of this node can be hosted again.
pub fn current_session_key(dir: &Path) -> Result<Ed25519KeyPair> {
    let path = dir.join("session.key");
    if !path.exists() {
        return new_session_key(dir, true);
    }
    let key = read_key(&path)?;
    let kept = keys_dir(dir).join(format!("{}.key", session_of(&key)));
    if !kept.exists() {
        std::fs::create_dir_all(keys_dir(dir))
            .with_context(|| format!("creating {}", keys_dir(dir).display()))?;
        write_private(
            &kept,
            &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
        )?;
    }
    Ok(key)
}

/// A new session key, kept in `DATA/keys/`; with `make_current`, also the default.
pub fn new_session_key(dir: &Path, make_current: bool) -> Result<Ed25519KeyPair> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| anyhow::anyhow!("could not generate a session key"))?;
    let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8.as_ref())
        .map_err(|e| anyhow::anyhow!("the new session key is unusable: {e}"))?;
    std::fs::create_dir_all(keys_dir(dir))
        .with_context(|| format!("creating {}", keys_dir(dir).display()))?;
    write_private(
        &keys_dir(dir).join(format!("{}.key", session_of(&key))),
        pkcs8.as_ref(),
    )?;
    if make_current {
        write_private(&dir.join("session.key"), pkcs8.as_ref())?;
    }
    Ok(key)
}

/// The key of `session`, if this node made it.
pub fn session_key_for(dir: &Path, session: &SessionId) -> Result<Option<Ed25519KeyPair>> {
    let path = keys_dir(dir).join(format!("{session}.key"));
    if path.exists() {
        read_key(&path).map(Some)
    } else {
        Ok(None)
    }
}

fn keys_dir(dir: &Path) -> PathBuf {
    dir.join("keys")
}

fn session_of(key: &Ed25519KeyPair) -> SessionId {
    SessionId(canopy_protocol::public_key(key))
}

fn read_key(path: &Path) -> Result<Ed25519KeyPair> {
    let der = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
        .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 key: {e}", path.display()))
}

/// Writes a secret readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    if bytes.is_empty() {
        bail!("refusing to write an empty key to {}", path.display());
    }
    #[cfg(unix)]
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
    }
    .with_context(|| format!("creating {}", path.display()))?;
    #[cfg(not(unix))]
    let mut file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
