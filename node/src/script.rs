//! Drawing scripts for headless peers: JSON Lines, one action a line.
//!
//! ```text
//! {"stroke":{"page":0,"color":"#d03030","width":3.0,"points":[[10,10],[50,40]]}}
//! {"new_page":{}}  {"goto_page":1}  {"clear_page":0}  {"undo":{}}  {"redo":{}}  {"sleep_ms":50}
//! {"cursor":[120,80]}  {"cursor":null}
//! ```
//! A stroke may also say `"tool":"highlighter"`, and `"points_per_op":N` to be drawn
//! as a pen draws it (its start, then its points N an op, then its end: the node
//! seals it after). The whole file is checked before the node starts, and an error
//! names the line.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use canopy_canvas::{Color, Point, Tool};
use serde_json::Value;

use crate::session::{Edit, PageRef};

/// One step of a script.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// An edit for the core.
    Edit(Edit),
    /// A pause.
    Sleep(Duration),
}

/// Reads and checks a script file.
pub fn load(path: &Path) -> Result<Vec<Step>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading drawing script {}", path.display()))?;
    parse(&text).with_context(|| format!("in drawing script {}", path.display()))
}

/// Parses script text; errors say `line N: …`.
pub fn parse(text: &str) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let step = parse_line(line).with_context(|| format!("line {}: {line}", index + 1))?;
        steps.extend(step);
    }
    Ok(steps)
}

fn parse_line(line: &str) -> Result<Vec<Step>> {
    let value: Value = serde_json::from_str(line).context("not valid JSON")?;
    let Some(object) = value.as_object().filter(|o| o.len() == 1) else {
        bail!("each line must be an object with exactly one action");
    };
    let Some((action, argument)) = object.iter().next() else {
        bail!("empty action");
    };
    let index = |v: &Value| -> Result<usize> {
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .context("expected a page number (0, 1, …)")
    };
    Ok(vec![match action.as_str() {
        "stroke" => return Ok(parse_stroke(argument)?.into_iter().map(Step::Edit).collect()),
        "new_page" => Step::Edit(Edit::NewPage),
        "goto_page" => Step::Edit(Edit::GotoPage(index(argument)?)),
        "clear_page" => Step::Edit(Edit::ClearPage(PageRef::Nth(index(argument)?))),
        "undo" => Step::Edit(Edit::Undo),
        "redo" => Step::Edit(Edit::Redo),
        "cursor" => Step::Edit(Edit::Cursor(match argument {
            Value::Null => None,
            Value::Array(xy) => match xy.as_slice() {
                [x, y] => Some(Point::new(
                    x.as_f64().context("cursor x must be a number")? as f32,
                    y.as_f64().context("cursor y must be a number")? as f32,
                )),
                _ => bail!("cursor takes [x, y] or null"),
            },
            _ => bail!("cursor takes [x, y] or null"),
        })),
        "sleep_ms" => Step::Sleep(Duration::from_millis(
            argument
                .as_u64()
                .filter(|ms| *ms <= 3_600_000)
                .context("sleep_ms takes milliseconds (0 to 3600000)")?,
        )),
        other => bail!(
            "unknown action {other:?}; expected stroke, new_page, goto_page, clear_page, undo, redo, cursor or sleep_ms"
        ),
    }])
}

/// A stroke: one edit (the whole stroke), or with `points_per_op` the edits a pen
/// makes.
fn parse_stroke(argument: &Value) -> Result<Vec<Edit>> {
    let page = argument.get("page").map_or(Ok(0), |p| {
        p.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .context("stroke page must be a page number")
    })?;
    let color = match argument.get("color") {
        None => Color::rgb(0, 0, 0),
        Some(c) => c
            .as_str()
            .and_then(Color::from_hex)
            .context("stroke color must be \"#rrggbb\" or \"#rrggbbaa\"")?,
    };
    let width = match argument.get("width") {
        None => 3.0,
        Some(w) => w.as_f64().context("stroke width must be a number")? as f32,
    };
    let tool = match argument.get("tool").and_then(Value::as_str) {
        None | Some("pen") => Tool::Pen,
        Some("highlighter") => Tool::Highlighter,
        Some(other) => bail!("unknown tool {other:?}; expected pen or highlighter"),
    };
    let points = argument
        .get("points")
        .and_then(Value::as_array)
        .context("stroke needs \"points\": [[x, y], …]")?
        .iter()
        .map(|p| match p.as_array().map(Vec::as_slice) {
            Some([x, y]) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => Ok(Point::new(x as f32, y as f32)),
                _ => bail!("a point must be two numbers"),
            },
            _ => bail!("a point must be [x, y]"),
        })
        .collect::<Result<Vec<Point>>>()?;
    if points.is_empty() {
        bail!("a stroke needs at least one point");
    }
    let Some(per_op) = argument.get("points_per_op") else {
        return Ok(vec![Edit::Stroke {
            page: PageRef::Nth(page),
            color,
            width,
            points,
            tool,
        }]);
    };
    let per_op = per_op
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n >= 1)
        .context("points_per_op must be a whole number of points, at least 1")?;
    let mut edits = vec![Edit::StrokeBegin {
        page: PageRef::Nth(page),
        tool,
        color,
        width,
    }];
    edits.extend(
        points
            .chunks(per_op)
            .map(|part| Edit::StrokeAppend(part.to_vec())),
    );
    edits.push(Edit::StrokeEnd);
    Ok(edits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_action() {
        let steps = parse(
            r##"{"stroke":{"page":0,"color":"#d03030","width":3.0,"points":[[1,2],[3,4]]}}
{"new_page":{}}
{"goto_page":1}
{"clear_page":0}
{"undo":{}}
{"cursor":[3,4]}
{"sleep_ms":50}"##,
        )
        .unwrap();
        assert_eq!(steps.len(), 7);
        assert_eq!(
            steps[5],
            Step::Edit(Edit::Cursor(Some(Point::new(3.0, 4.0))))
        );
        assert_eq!(steps[6], Step::Sleep(Duration::from_millis(50)));
    }

    #[test]
    fn a_stroke_with_points_per_op_is_drawn_as_a_pen_draws_it() {
        let steps =
            parse(r#"{"stroke":{"points":[[1,2],[3,4],[5,6]],"points_per_op":2}}"#).unwrap();
        let edits: Vec<&Edit> = steps
            .iter()
            .map(|step| match step {
                Step::Edit(edit) => edit,
                Step::Sleep(_) => panic!("a sleep in a stroke"),
            })
            .collect();
        assert!(matches!(edits[0], Edit::StrokeBegin { .. }), "{edits:?}");
        assert_eq!(
            edits[1..],
            [
                &Edit::StrokeAppend(vec![Point::new(1.0, 2.0), Point::new(3.0, 4.0)]),
                &Edit::StrokeAppend(vec![Point::new(5.0, 6.0)]),
                &Edit::StrokeEnd,
            ]
        );
        let error = format!(
            "{:#}",
            parse(r#"{"stroke":{"points":[[1,2]],"points_per_op":0}}"#).unwrap_err()
        );
        assert!(error.contains("points_per_op"), "{error}");
    }

    #[test]
    fn errors_name_the_line() {
        let error = parse("{\"undo\":{}}\n{\"stroke\":{\"points\":[[1]]}}").unwrap_err();
        let text = format!("{error:#}");
        assert!(text.starts_with("line 2: "), "{text}");
        assert!(text.contains("a point must be [x, y]"), "{text}");
        let error = format!("{:#}", parse("{\"fly\":1}").unwrap_err());
        assert!(error.contains("unknown action \"fly\""), "{error}");
    }
}
