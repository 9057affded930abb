//! The document digest: a stable hash of what the document shows.
//!
//! Two peers have equal digests exactly when they show the same pages in the same
//! order with the same strokes (ids, style, points) in the same z-order. Undone,
//! erased and cleared strokes and deleted pages do not count: they are not shown.
//! [`Document::picture`] leaves the ids out: what a signed import keeps.

use crate::document::Document;

/// A BLAKE3 hash of the visible document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl Document {
    /// Hashes the visible state; see the module docs for what counts.
    pub fn digest(&self) -> Digest {
        self.hash_visible(true)
    }

    /// Hashes what is drawn, without the ids of pages and strokes: equal for a
    /// document and its signed import (the same drawing, made again by the importer).
    pub fn picture(&self) -> Digest {
        self.hash_visible(false)
    }

    fn hash_visible(&self, with_ids: bool) -> Digest {
        let mut hasher = blake3::Hasher::new();
        let mut buffer: Vec<u8> = Vec::with_capacity(4096);
        for page in self.pages() {
            hasher.update(b"page");
            if with_ids {
                hasher.update(&page.node.0.to_le_bytes());
                hasher.update(&page.seq.to_le_bytes());
            }
            for stroke in self.strokes(page) {
                buffer.clear();
                buffer.extend_from_slice(b"stroke");
                if with_ids {
                    buffer.extend_from_slice(&stroke.id().node.0.to_le_bytes());
                    buffer.extend_from_slice(&stroke.id().seq.to_le_bytes());
                }
                buffer.push(stroke.tool() as u8);
                let c = stroke.color();
                buffer.extend_from_slice(&[c.r, c.g, c.b, c.a]);
                buffer.extend_from_slice(&stroke.width().to_bits().to_le_bytes());
                buffer.extend_from_slice(&stroke.point_count().to_le_bytes());
                for p in stroke.points() {
                    buffer.extend_from_slice(&p.x.to_bits().to_le_bytes());
                    buffer.extend_from_slice(&p.y.to_bits().to_le_bytes());
                }
                hasher.update(&buffer);
            }
        }
        Digest(*hasher.finalize().as_bytes())
    }
}
