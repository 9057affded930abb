//! QUIC endpoint configuration: rustls (TLS 1.3, ring), ALPN `canopy/1`, explicit
//! keep-alive and idle timeout, and a client verifier that pins the certificate
//! fingerprint from the join URL instead of trusting a CA.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use canopy_protocol::{Fingerprint, ALPN};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::identity::Identity;

/// QUIC keep-alive (quinn's default is off, which lets idle links die silently).
pub const KEEP_ALIVE: Duration = Duration::from_secs(4);
/// A link silent for this long is dead, by default.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Bytes a stranger's connection may have in flight before it is admitted: room for
/// a hello, not for a flood (the window opens up as the hello is read).
pub const UNADMITTED_RECEIVE_WINDOW: u32 = 64 * 1024;

/// A link's connection window once admitted (and a joiner's, toward its parent): a
/// backlog streams at full speed on a 100 Mbit/s, 100 ms path.
pub const LINK_RECEIVE_WINDOW: u32 = 4 << 20;

/// The one stream's window (a frame is at most 1 MiB).
const STREAM_RECEIVE_WINDOW: u32 = 2 << 20;

/// What may be in flight unacknowledged on a link (then the writer waits); at 8 MiB
/// the 100k-stroke late-join bench ran noticeably slower on this machine.
const SEND_WINDOW: u64 = 16 << 20;

/// Datagrams (presence, audio) buffered unread, each way: tens of milliseconds of a
/// busy link's worth.
const DATAGRAM_BUFFER: usize = 64 * 1024;

/// The transport, set on purpose rather than left at quinn's defaults (which allow 100
/// streams each way and megabytes per connection before a hello). A link is one
/// stream, opened by the joiner; datagrams carry the rest.
fn transport(idle: Duration, receive_window: u32) -> Result<Arc<quinn::TransportConfig>> {
    let mut transport = quinn::TransportConfig::default();
    // Keep-alives well inside the idle timeout, so only a dead peer times out.
    transport.keep_alive_interval(Some(KEEP_ALIVE.min(idle / 3)));
    transport.max_idle_timeout(Some(idle.try_into().context("idle timeout")?));
    transport.max_concurrent_bidi_streams(1u32.into());
    transport.max_concurrent_uni_streams(0u32.into());
    transport.stream_receive_window(STREAM_RECEIVE_WINDOW.into());
    transport.receive_window(receive_window.into());
    transport.send_window(SEND_WINDOW);
    transport.datagram_receive_buffer_size(Some(DATAGRAM_BUFFER));
    transport.datagram_send_buffer_size(DATAGRAM_BUFFER);
    Ok(Arc::new(transport))
}

/// Server side: present the node certificate.
pub fn server_config(identity: &Identity, idle: Duration) -> Result<quinn::ServerConfig> {
    let mut crypto = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3")?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(identity.certificate.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_der.clone())),
        )
        .context("loading the node certificate")?;
    crypto.alpn_protocols = vec![ALPN.to_vec()];
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(
        QuicServerConfig::try_from(crypto).context("QUIC server crypto")?,
    ));
    // Strangers get a hello's worth; the window opens once they are admitted.
    config.transport_config(transport(idle, UNADMITTED_RECEIVE_WINDOW)?);
    Ok(config)
}

/// What the pinning verifier saw, to explain a failed connection.
pub type SeenFingerprint = Arc<Mutex<Option<Fingerprint>>>;

/// Client side: accept exactly the certificate whose fingerprint is pinned.
pub fn client_config(
    pinned: Fingerprint,
    idle: Duration,
) -> Result<(quinn::ClientConfig, SeenFingerprint)> {
    let seen = SeenFingerprint::default();
    let verifier = Arc::new(PinnedCertificate {
        pinned,
        seen: Arc::clone(&seen),
        provider: provider(),
    });
    let mut crypto = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3")?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    crypto.alpn_protocols = vec![ALPN.to_vec()];
    let mut config = quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(crypto).context("QUIC client crypto")?,
    ));
    config.transport_config(transport(idle, LINK_RECEIVE_WINDOW)?);
    Ok((config, seen))
}

#[derive(Debug)]
struct PinnedCertificate {
    pinned: Fingerprint,
    seen: SeenFingerprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual = Fingerprint::of_certificate(end_entity.as_ref());
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(actual);
        }
        if actual == self.pinned {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate fingerprint mismatch: expected {}, got {actual}",
                self.pinned
            )))
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
