//! Join URLs: `canopy://HOST:PORT/SESSION?fp=FINGERPRINT&invite=TOKEN`.
//!
//! Everything a joiner needs: where to connect, which certificate to expect (so no CA
//! is needed and no one can sit in the middle) and the capability to present.

use std::fmt;
use std::str::FromStr;

use crate::ids::{Fingerprint, SessionId};
use crate::invite::{Invite, InviteError};

/// The port Canopy listens on when none is given.
pub const DEFAULT_PORT: u16 = 7447;

/// A parsed join URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// UDP port.
    pub port: u16,
    /// The session to join.
    pub session: SessionId,
    /// SHA-256 of the host's certificate; `None` only for hosts with CA-signed
    /// certificates.
    pub fingerprint: Option<Fingerprint>,
    /// The capability to present.
    pub invite: Invite,
}

/// What is wrong with a join URL, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL at all.
    #[error("not a URL: {0}")]
    NotAUrl(String),
    /// Another scheme.
    #[error("a join URL starts with canopy://, not {0}://")]
    WrongScheme(String),
    /// No host.
    #[error("the URL names no host")]
    NoHost,
    /// The path is not a session id.
    #[error("the URL's path must be the session id (64 hex digits), got {0:?}")]
    BadSession(String),
    /// `fp=` is malformed.
    #[error("the fp= parameter must be a SHA-256 fingerprint (64 hex digits), got {0:?}")]
    BadFingerprint(String),
    /// `invite=` is missing.
    #[error("the URL has no invite= parameter")]
    NoInvite,
    /// `invite=` is malformed.
    #[error("the invite= parameter is malformed: {0}")]
    BadInvite(InviteError),
}

impl FromStr for JoinUrl {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<Self, UrlError> {
        let url = url::Url::parse(text.trim())
            .map_err(|e| UrlError::NotAUrl(format!("{text:?} ({e})")))?;
        if url.scheme() != "canopy" {
            return Err(UrlError::WrongScheme(url.scheme().to_string()));
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) if !name.is_empty() => name.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(UrlError::NoHost),
        };
        let path = url.path().trim_start_matches('/');
        let session = path
            .parse::<SessionId>()
            .map_err(|_| UrlError::BadSession(path.to_string()))?;
        let mut fingerprint = None;
        let mut invite = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "fp" => {
                    fingerprint = Some(
                        value
                            .parse::<Fingerprint>()
                            .map_err(|_| UrlError::BadFingerprint(value.to_string()))?,
                    )
                }
                "invite" => invite = Some(Invite::from_token(&value).map_err(UrlError::BadInvite)?),
                _ => {}
            }
        }
        Ok(JoinUrl {
            host,
            port: url.port().unwrap_or(DEFAULT_PORT),
            session,
            fingerprint,
            invite: invite.ok_or(UrlError::NoInvite)?,
        })
    }
}

impl fmt::Display for JoinUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "canopy://{host}:{}/{}?", self.port, self.session)?;
        if let Some(fp) = &self.fingerprint {
            write!(f, "fp={fp}&")?;
        }
        write!(f, "invite={}", self.invite.to_token())
    }
}
