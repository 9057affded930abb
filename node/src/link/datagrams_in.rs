//! `link[N]/datagrams-in`: the link's QUIC datagrams, sorted by their tag: presence to
//! the link's `presence-in`, audio (parsed, bounded) to the link's `audio-in`. Datagrams are real
//! time and unreliable: when either is behind, the datagram is dropped, as the
//! network may drop any.

use canopy_axon::{BoxError, Component, Context, Outbox, Scope};
use canopy_protocol::{Datagram, AUDIO_TAG, PRESENCE_TAG};
use quinn::Connection;

use super::audio_in::AudioIn;

/// The datagram reader component.
pub struct DatagramsIn {
    /// Presence datagrams, to `presence-in`.
    presence: Outbox<Vec<u8>>,
    /// Audio packets, to `audio-in`.
    audio: Outbox<AudioIn>,
    connection: Connection,
}

impl DatagramsIn {
    /// Makes the boxes.
    pub fn new(scope: &Scope, connection: Connection) -> Self {
        Self {
            presence: scope.outbox("presence"),
            audio: scope.outbox("audio"),
            connection,
        }
    }
}

impl Component for DatagramsIn {
    async fn run(mut self, ctx: Context) -> Result<(), BoxError> {
        loop {
            let bytes = tokio::select! {
                datagram = self.connection.read_datagram() => match datagram {
                    Ok(bytes) => bytes,
                    Err(_) => return Ok(()), // the connection is gone
                },
                () = ctx.stopped() => return Ok(()),
            };
            match bytes.first() {
                Some(&PRESENCE_TAG) => {
                    let _ = self.presence.try_send(bytes.to_vec());
                }
                Some(&AUDIO_TAG) if self.audio.is_linked() => {
                    if let Ok(Datagram::Audio { seq, packet }) = Datagram::parse(&bytes) {
                        let _ = self.audio.try_send(AudioIn::Packet {
                            seq,
                            packet,
                            arrival_ms: crate::audio::clock_ms(),
                        });
                    }
                }
                _ => {} // unknown kinds are ignored, like any lost datagram
            }
        }
    }
}
