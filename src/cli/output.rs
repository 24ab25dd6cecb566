//! Rendering: `--json` documents and human text on stdout. Commands build data; this module
//! writes it.

use std::io::Write;

use serde::Serialize;

pub use crate::users::is_format;

use crate::cli::error::{Error, Result};

/// Prints one compact JSON document and a newline on stdout.
///
/// # Errors
/// `Error::Output` when stdout fails.
pub fn json(value: &impl Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value).map_err(|e| Error::Output(e.into()))?;
    out.write_all(b"\n").map_err(Error::Output)
}

/// Prints text (a newline is added) on stdout.
///
/// # Errors
/// `Error::Output` when stdout fails.
pub fn text(s: impl std::fmt::Display) -> Result<()> {
    writeln!(std::io::stdout().lock(), "{s}").map_err(Error::Output)
}

pub use crate::clock::{relative, span, utc};

/// Lays out rows as columns separated by two spaces (the last column is not padded).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            if i == last {
                s.push_str(cell);
            } else {
                s.push_str(cell);
                let pad = widths[i] - cell.chars().count() + 2;
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        s.push('\n');
    }
    s.pop();
    s
}

/// Text styles for human output (see `Ctx::color` for when they are used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Section titles.
    Bold,
    /// Good news (not expired).
    Green,
    /// Bad news (expired).
    Red,
    /// Not yet (not yet valid).
    Yellow,
    /// Secondary detail.
    Dim,
}

impl Style {
    fn ansi(self) -> anstyle::Style {
        let fg = |c: anstyle::AnsiColor| anstyle::Style::new().fg_color(Some(c.into()));
        match self {
            Style::Bold => anstyle::Style::new().bold(),
            Style::Green => fg(anstyle::AnsiColor::Green),
            Style::Red => fg(anstyle::AnsiColor::Red),
            Style::Yellow => fg(anstyle::AnsiColor::Yellow),
            Style::Dim => anstyle::Style::new().dimmed(),
        }
    }
}

/// `s` in `style` when `color` is on, else `s` unchanged.
pub fn paint(color: bool, style: Style, s: &str) -> String {
    if !color {
        return s.to_string();
    }
    let style = style.ansi();
    format!("{style}{s}{style:#}")
}

/// A JSON value for a terminal: strings as they are, everything else as compact JSON, both
/// through `printable` (JSON escapes control characters but not bidi or other format ones).
pub fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => printable(s),
        other => printable(&other.to_string()),
    }
}

/// `s` made safe for a terminal and for line-based output (SPEC §8 "Output safety"): control
/// characters, line and paragraph separators, bidi controls and every other format (`Cf`)
/// character are escaped as `\n`, `\r`, `\t` or `\u{202e}`; everything else is left as it is.
/// Every text-mode value that came from a token or a file goes through here, so no token can
/// add a line to batch output or send a terminal escape.
pub fn printable(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// True for the characters `printable` escapes.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || is_format(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y");
    }

    #[test]
    fn paint_is_plain_without_color() {
        assert_eq!(paint(false, Style::Red, "x"), "x");
        assert_eq!(paint(true, Style::Red, "x"), "\x1b[31mx\x1b[0m");
    }

    #[test]
    fn value_escapes_control_characters() {
        assert_eq!(value(&serde_json::json!("a\u{1b}[31m")), "a\\u{1b}[31m");
        assert_eq!(value(&serde_json::json!("a\nb\u{202e}")), "a\\nb\\u{202e}");
        assert_eq!(value(&serde_json::json!(["\u{200b}"])), "[\"\\u{200b}\"]");
        assert_eq!(value(&serde_json::json!("alice")), "alice");
        assert_eq!(value(&serde_json::json!({"a": [1]})), "{\"a\":[1]}");
    }

    #[test]
    fn utc_formats_rfc3339() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
    }
}
