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

/// The URL's host (IPv6 without brackets), if it names one.
fn host_of(url: &url::Url) -> Option<String> {
    match url.host()? {
        url::Host::Domain(name) if !name.is_empty() => Some(name.to_string()),
        url::Host::Domain(_) => None,
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

impl FromStr for JoinUrl {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<Self, UrlError> {
        let url = url::Url::parse(text.trim())
            .map_err(|e| UrlError::NotAUrl(format!("{text:?} ({e})")))?;
        if url.scheme() != "canopy" {
            return Err(UrlError::WrongScheme(url.scheme().to_string()));
        }
        let host = host_of(&url).ok_or(UrlError::NoHost)?;
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

/// A relay's "host here" URL: `canopy-host://HOST:PORT?fp=FINGERPRINT&token=TOKEN`.
/// An operator issues one to let a person create sessions on the relay (from the
/// desktop's "Host on a relay…" or `canopy host --on-relay URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// UDP port.
    pub port: u16,
    /// SHA-256 of the relay's certificate.
    pub fingerprint: Fingerprint,
    /// The secret that lets its holder create sessions.
    pub token: String,
}

/// What is wrong with a host URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostUrlError {
    /// Not a URL at all.
    #[error("not a URL: {0}")]
    NotAUrl(String),
    /// Another scheme.
    #[error("a relay host URL starts with canopy-host://, not {0}://")]
    WrongScheme(String),
    /// No host.
    #[error("the URL names no host")]
    NoHost,
    /// `fp=` missing or malformed.
    #[error("the URL needs fp= with the relay's SHA-256 fingerprint (64 hex digits)")]
    BadFingerprint,
    /// `token=` missing or empty.
    #[error("the URL has no token=")]
    NoToken,
    /// `token=` holds what no relay issues (tokens are base64url).
    #[error("the URL's token= is not a relay's token (letters, digits, - and _, at most {MAX_HOST_TOKEN})")]
    BadToken,
}

/// Longest host token taken (relays issue 43 characters).
pub const MAX_HOST_TOKEN: usize = 256;

impl FromStr for HostUrl {
    type Err = HostUrlError;

    fn from_str(text: &str) -> Result<Self, HostUrlError> {
        let url = url::Url::parse(text.trim())
            .map_err(|e| HostUrlError::NotAUrl(format!("{text:?} ({e})")))?;
        if url.scheme() != "canopy-host" {
            return Err(HostUrlError::WrongScheme(url.scheme().to_string()));
        }
        let host = host_of(&url).ok_or(HostUrlError::NoHost)?;
        let mut fingerprint = None;
        let mut token = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "fp" => fingerprint = value.parse::<Fingerprint>().ok(),
                "token" if !value.is_empty() => token = Some(value.to_string()),
                _ => {}
            }
        }
        let token = token.ok_or(HostUrlError::NoToken)?;
        // Base64url only: it is written back into URLs as it is.
        if token.len() > MAX_HOST_TOKEN
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(HostUrlError::BadToken);
        }
        Ok(HostUrl {
            host,
            port: url.port().unwrap_or(DEFAULT_PORT),
            fingerprint: fingerprint.ok_or(HostUrlError::BadFingerprint)?,
            token,
        })
    }
}

impl fmt::Display for HostUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "canopy-host://{host}:{}?fp={}&token={}",
            self.port, self.fingerprint, self.token
        )
    }
}
