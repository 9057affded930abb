//! The one encoding of an action: the bytes an author signs and a payload carries.
//!
//! Most of what an op names is its author's own earlier ops: the stroke its points
//! extend or end, the action it undoes, the page it draws on. Those are coded as how
//! many ops back they are (usually one byte) instead of the author's 8-byte id and
//! the number again, so a one-point chunk of a stroke is 12 bytes instead of 25. Anything
//! else (another author's stroke or page, the first page) is coded in full. Each
//! action has exactly one encoding, and only that one is taken: holders rebuild the
//! ops they serve from the document, so the bytes they send must be the bytes the
//! author signed.
//!
//! Files from before protocol 5 (formats 1–3) coded every action as plain bincode of
//! [`Action`]; [`decode_legacy_action`] reads those, to import them.

use canopy_canvas::{Action, Color, OpId, Point, Shape, Tool, VersionVector};
use serde::{Deserialize, Serialize};

use crate::frame::{FrameError, MAX_FRAME};

/// An op named by another: `Back(n)` is the author's own op `n` before this one;
/// `Id` is any other, in full. Coded as one number: `n` (at least 1) for `Back`, or
/// 0 and then the id, so the common case is a single byte.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ref {
    Back(u64),
    Id(OpId),
}

impl Serialize for Ref {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        match self {
            Ref::Back(back) => serializer.serialize_u64(*back),
            Ref::Id(id) => {
                let mut tuple = serializer.serialize_tuple(2)?;
                tuple.serialize_element(&0u64)?;
                tuple.serialize_element(id)?;
                tuple.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Ref, D::Error> {
        deserializer.deserialize_tuple(2, RefVisitor)
    }
}

/// Reads a [`Ref`]: a number, and the id after it only if the number is 0.
struct RefVisitor;

impl<'de> serde::de::Visitor<'de> for RefVisitor {
    type Value = Ref;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an op reference")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ref, A::Error> {
        use serde::de::Error;
        let back: u64 = seq
            .next_element()?
            .ok_or_else(|| A::Error::invalid_length(0, &self))?;
        if back > 0 {
            return Ok(Ref::Back(back));
        }
        let id: OpId = seq
            .next_element()?
            .ok_or_else(|| A::Error::invalid_length(1, &self))?;
        Ok(Ref::Id(id))
    }
}

impl Ref {
    /// How op `id` codes a reference to `to`.
    fn of(id: OpId, to: OpId) -> Ref {
        match id.seq.checked_sub(to.seq) {
            Some(back) if back > 0 && to.node == id.node => Ref::Back(back),
            _ => Ref::Id(to),
        }
    }

    /// The op named, from op `id`; `None` if `Back` reaches before the author's first.
    fn resolve(self, id: OpId) -> Option<OpId> {
        match self {
            Ref::Back(back) => Some(OpId {
                node: id.node,
                seq: id.seq.checked_sub(back).filter(|seq| *seq > 0)?,
            }),
            Ref::Id(to) => Some(to),
        }
    }
}

/// An action as it is coded (the variants and fields mirror [`Action`]'s), with its
/// points and version vector as `P` and `V`: borrowed to encode ([`Encoding`]),
/// owned when read back ([`Decoding`]). [`Header`] mirrors its variants, in order:
/// a variant added here is added there too.
#[derive(Serialize, Deserialize)]
enum Coded<P, V> {
    StrokeStart {
        page: Ref,
        tool: Tool,
        color: Color,
        width: f32,
    },
    StrokePoints {
        stroke: Ref,
        offset: u32,
        points: P,
    },
    StrokeEnd {
        stroke: Ref,
        points: u32,
    },
    Erase {
        strokes: Vec<Ref>,
    },
    ClearPage {
        page: Ref,
        seen: V,
    },
    NewPage {
        position: f64,
    },
    DeletePage {
        page: Ref,
    },
    MovePage {
        page: Ref,
        position: f64,
    },
    Undo {
        target: Ref,
    },
    Redo {
        target: Ref,
    },
    StrokeSealed {
        stroke: Ref,
        page: Ref,
        tool: Tool,
        color: Color,
        width: f32,
        start_lamport: u64,
        points: P,
    },
}

/// An action as it is encoded, borrowing its larger parts.
type Encoding<'a> = Coded<&'a [Point], &'a VersionVector>;

/// An action as it is read back.
type Decoding = Coded<Vec<Point>, VersionVector>;

fn coded(id: OpId, action: &Action) -> Encoding<'_> {
    let at = |to: &OpId| Ref::of(id, *to);
    match action {
        Action::StrokeStart {
            page,
            tool,
            color,
            width,
        } => Coded::StrokeStart {
            page: at(page),
            tool: *tool,
            color: *color,
            width: *width,
        },
        Action::StrokePoints {
            stroke,
            offset,
            points,
        } => Coded::StrokePoints {
            stroke: at(stroke),
            offset: *offset,
            points,
        },
        Action::StrokeEnd { stroke, points } => Coded::StrokeEnd {
            stroke: at(stroke),
            points: *points,
        },
        Action::Erase { strokes } => Coded::Erase {
            strokes: strokes.iter().map(at).collect(),
        },
        Action::ClearPage { page, seen } => Coded::ClearPage {
            page: at(page),
            seen,
        },
        Action::NewPage { position } => Coded::NewPage {
            position: *position,
        },
        Action::DeletePage { page } => Coded::DeletePage { page: at(page) },
        Action::MovePage { page, position } => Coded::MovePage {
            page: at(page),
            position: *position,
        },
        Action::Undo { target } => Coded::Undo { target: at(target) },
        Action::Redo { target } => Coded::Redo { target: at(target) },
        Action::StrokeSealed {
            stroke,
            page,
            tool,
            color,
            width,
            start_lamport,
            points,
        } => Coded::StrokeSealed {
            stroke: at(stroke),
            page: at(page),
            tool: *tool,
            color: *color,
            width: *width,
            start_lamport: *start_lamport,
            points,
        },
    }
}

fn action_of(id: OpId, decoded: Decoding) -> Option<Action> {
    let at = |to: Ref| to.resolve(id);
    Some(match decoded {
        Coded::StrokeStart {
            page,
            tool,
            color,
            width,
        } => Action::StrokeStart {
            page: at(page)?,
            tool,
            color,
            width,
        },
        Coded::StrokePoints {
            stroke,
            offset,
            points,
        } => Action::StrokePoints {
            stroke: at(stroke)?,
            offset,
            points,
        },
        Coded::StrokeEnd { stroke, points } => Action::StrokeEnd {
            stroke: at(stroke)?,
            points,
        },
        Coded::Erase { strokes } => Action::Erase {
            strokes: strokes.into_iter().map(at).collect::<Option<_>>()?,
        },
        Coded::ClearPage { page, seen } => Action::ClearPage {
            page: at(page)?,
            seen,
        },
        Coded::NewPage { position } => Action::NewPage { position },
        Coded::DeletePage { page } => Action::DeletePage { page: at(page)? },
        Coded::MovePage { page, position } => Action::MovePage {
            page: at(page)?,
            position,
        },
        Coded::Undo { target } => Action::Undo {
            target: at(target)?,
        },
        Coded::Redo { target } => Action::Redo {
            target: at(target)?,
        },
        Coded::StrokeSealed {
            stroke,
            page,
            tool,
            color,
            width,
            start_lamport,
            points,
        } => Action::StrokeSealed {
            stroke: at(stroke)?,
            page: at(page)?,
            tool,
            color,
            width,
            start_lamport,
            points,
        },
    })
}

/// The one encoding of `action` as op `id` makes it: what its author signs.
pub fn encode_action(id: OpId, action: &Action) -> Vec<u8> {
    // Sized up front: growing from empty costs several reallocations an op, and
    // every op a backlog serves is encoded here.
    let estimate = match action {
        Action::StrokePoints { points, .. } => 16 + 8 * points.len(),
        _ => 64,
    };
    let mut into = Appends(Vec::with_capacity(estimate));
    match bincode::serde::encode_into_writer(coded(id, action), &mut into, config()) {
        Ok(()) => into.0,
        Err(_) => Vec::new(),
    }
}

/// Reads op `id`'s action from its payload: only the one encoding of an action is
/// taken (no longer spelling of a number, no reference in full that could be coded
/// back, no byte after it).
pub fn decode_action(id: OpId, payload: &[u8]) -> Result<Action, FrameError> {
    let limited = config().with_limit::<{ MAX_FRAME }>();
    let (decoded, used): (Decoding, usize) = bincode::serde::decode_from_slice(payload, limited)
        .map_err(|e| FrameError::Decode(e.to_string()))?;
    if used != payload.len() {
        return Err(FrameError::Decode("trailing bytes after the action".into()));
    }
    let action = action_of(id, decoded).ok_or_else(|| {
        FrameError::Decode("the action names an op before its author's first".into())
    })?;
    if !is_encoding_of(coded(id, &action), payload) {
        return Err(FrameError::Decode(
            "the action is not in its canonical encoding".into(),
        ));
    }
    Ok(action)
}

/// What an op is to the stroke rule, read from its payload's header alone: the
/// action's variant and, for points, an end or a seal, the stroke it names (the
/// encoding puts both first), and for points how many (the length that comes before
/// them). The rest of the payload is not read, so a holder can
/// verify an author's log — hashes, signatures, the stroke rule, where a seal's
/// chain goes on from — without decoding what was drawn. For a payload that
/// decodes, it is [`Shape::of`] its action.
pub fn shape_of(id: OpId, payload: &[u8]) -> Result<Shape, FrameError> {
    let limited = config().with_limit::<{ MAX_FRAME }>();
    let (header, _): (Header, usize) = bincode::serde::decode_from_slice(payload, limited)
        .map_err(|e| FrameError::Decode(e.to_string()))?;
    let stroke = |named: Ref| {
        named.resolve(id).map(|stroke| stroke.seq).ok_or_else(|| {
            FrameError::Decode("the action names an op before its author's first".into())
        })
    };
    Ok(match header {
        Header::StrokeStart => Shape::Start,
        Header::StrokePoints {
            stroke: named,
            points,
            ..
        } => Shape::Points(stroke(named)?, u32::try_from(points).unwrap_or(u32::MAX)),
        Header::StrokeEnd { stroke: named } => Shape::End(stroke(named)?),
        Header::StrokeSealed { stroke: named } => Shape::Seal(stroke(named)?),
        Header::Erase
        | Header::ClearPage
        | Header::NewPage
        | Header::DeletePage
        | Header::MovePage
        | Header::Undo
        | Header::Redo => Shape::Other,
    })
}

/// The start of an encoded action: [`Coded`]'s variants in the same order, with only
/// the stroke a stroke's later ops name (their first field) and, for points, how
/// many there are (the length before the points themselves).
#[derive(Deserialize)]
enum Header {
    StrokeStart,
    StrokePoints {
        stroke: Ref,
        _offset: u32,
        points: u64,
    },
    StrokeEnd {
        stroke: Ref,
    },
    Erase,
    ClearPage,
    NewPage,
    DeletePage,
    MovePage,
    Undo,
    Redo,
    StrokeSealed {
        stroke: Ref,
    },
}

/// Reads an action as files from before protocol 5 (formats 1–3) coded it: plain
/// bincode of [`Action`]. Only for reading such files, whose ops are imported.
pub fn decode_legacy_action(payload: &[u8]) -> Result<Action, FrameError> {
    let limited = config().with_limit::<{ MAX_FRAME }>();
    let (action, used): (Action, usize) = bincode::serde::decode_from_slice(payload, limited)
        .map_err(|e| FrameError::Decode(e.to_string()))?;
    if used != payload.len() {
        return Err(FrameError::Decode("trailing bytes after the action".into()));
    }
    Ok(action)
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// True if `bytes` are exactly the encoding of `coded`, compared while it is
/// encoded (no copy is made; the first byte that differs stops it).
fn is_encoding_of(coded: Encoding<'_>, bytes: &[u8]) -> bool {
    let mut matches = Matches {
        expected: bytes,
        at: 0,
    };
    bincode::serde::encode_into_writer(coded, &mut matches, config()).is_ok()
        && matches.at == bytes.len()
}

/// A bincode writer onto the end of a vector.
struct Appends(Vec<u8>);

impl bincode::enc::write::Writer for Appends {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// A bincode writer that checks what is written against bytes already held.
struct Matches<'a> {
    expected: &'a [u8],
    at: usize,
}

impl bincode::enc::write::Writer for Matches<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        let end = self.at.saturating_add(bytes.len());
        if self.expected.get(self.at..end) != Some(bytes) {
            return Err(bincode::error::EncodeError::Other("not the encoding held"));
        }
        self.at = end;
        Ok(())
    }
}
