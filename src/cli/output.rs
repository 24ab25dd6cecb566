//! Rendering: `--json` documents and human text on stdout. Commands build data; this module
//! writes it.

use std::io::Write;

use serde::Serialize;

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

/// A JSON value for a terminal: strings as they are when printable, everything else (and
/// strings with control characters, which could drive the terminal) as compact JSON.
pub fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => printable(s),
        other => other.to_string(),
    }
}

/// `s` as it is when it has no control characters, else JSON-quoted (escapes made visible).
pub fn printable(s: &str) -> String {
    if s.chars().any(char::is_control) {
        serde_json::Value::from(s).to_string()
    } else {
        s.to_string()
    }
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
        assert_eq!(value(&serde_json::json!("a\u{1b}[31m")), "\"a\\u001b[31m\"");
        assert_eq!(value(&serde_json::json!("alice")), "alice");
        assert_eq!(value(&serde_json::json!({"a": [1]})), "{\"a\":[1]}");
    }

    #[test]
    fn utc_formats_rfc3339() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
    }
}
