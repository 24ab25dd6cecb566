//! Rendering: `--json` documents and human text on stdout. Commands build data; this module
//! writes it.

use std::io::Write;
#[cfg(target_os = "linux")]
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

/// Prints one compact JSON document and a newline on stdout.
///
/// # Errors
/// `Error::Output` when stdout fails.
pub fn json(value: &impl Serialize) -> Result<()> {
    check_stdout()?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value).map_err(|e| Error::Output(e.into()))?;
    out.write_all(b"\n").map_err(Error::Output)
}

/// Prints text (a newline is added) on stdout.
///
/// # Errors
/// `Error::Output` when stdout fails.
pub fn text(s: impl std::fmt::Display) -> Result<()> {
    check_stdout()?;
    writeln!(std::io::stdout().lock(), "{s}").map_err(Error::Output)
}

/// Fails when stdout was closed (`jwtauth mint >&-`): the output would be lost, so that is
/// an error (exit 8, SPEC §8), never a silent success.
///
/// Rust's runtime reopens a closed stdout on `/dev/null` before `main` (read-write, where a
/// shell's `>/dev/null` is write-only), so writes to it succeed and only that mark tells the
/// two apart. Linux only; elsewhere nothing is checked.
///
/// # Errors
/// `Error::Output` when stdout is closed.
pub fn check_stdout() -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let reopened = std::fs::read_link("/proc/self/fd/1")
            .is_ok_and(|p| p == Path::new("/dev/null"))
            && std::fs::read_to_string("/proc/self/fdinfo/1").is_ok_and(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("flags:"))
                    .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                    .is_some_and(|flags| flags & 0o3 == 0o2) // O_ACCMODE == O_RDWR
            });
        if reopened {
            return Err(Error::Output(std::io::Error::other(
                "stdout is closed; the output would be lost",
            )));
        }
    }
    Ok(())
}

/// A unix time as UTC RFC 3339 (`2026-11-26T17:47:19Z`), or the number when out of range.
pub fn utc(t: i64) -> String {
    match jiff::Timestamp::from_second(t) {
        Ok(ts) => ts.to_string(),
        Err(_) => t.to_string(),
    }
}

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

/// Text styles for human output (plain ANSI escapes; see `Ctx::color` for when they are used).
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

/// `s` in `style` when `color` is on, else `s` unchanged.
pub fn paint(color: bool, style: Style, s: &str) -> String {
    if !color {
        return s.to_string();
    }
    let code = match style {
        Style::Bold => "1",
        Style::Green => "32",
        Style::Red => "31",
        Style::Yellow => "33",
        Style::Dim => "2",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
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

/// True for a format character (Unicode general category `Cf`: zero-width characters, bidi
/// controls, the BOM, soft hyphen, tag characters…).
pub fn is_format(c: char) -> bool {
    let c = c as u32;
    // Most text is ASCII; the first entry is U+00AD.
    c >= 0xAD
        && FORMAT_CHARS
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
}

/// The `Cf` code points of Unicode 15.1, as sorted inclusive ranges (from UnicodeData.txt).
const FORMAT_CHARS: [(u32, u32); 21] = [
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// A span of seconds as a short human phrase: `45s`, `14m`, `3h`, `2d`.
pub fn span(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// `t` relative to `now`: `in 14m`, `3h ago`, `now`.
pub fn relative(t: i64, now: i64) -> String {
    match t.cmp(&now) {
        std::cmp::Ordering::Equal => "now".to_string(),
        std::cmp::Ordering::Greater => format!("in {}", span(t.saturating_sub(now))),
        std::cmp::Ordering::Less => format!("{} ago", span(now.saturating_sub(t))),
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
        assert_eq!(value(&serde_json::json!("a\u{1b}[31m")), "a\\u{1b}[31m");
        assert_eq!(value(&serde_json::json!("a\nb\u{202e}")), "a\\nb\\u{202e}");
        assert_eq!(value(&serde_json::json!(["\u{200b}"])), "[\"\\u{200b}\"]");
        assert_eq!(value(&serde_json::json!("alice")), "alice");
        assert_eq!(value(&serde_json::json!({"a": [1]})), "{\"a\":[1]}");
    }

    #[test]
    fn format_characters() {
        for c in [
            '\u{ad}',
            '\u{200b}',
            '\u{202e}',
            '\u{2066}',
            '\u{feff}',
            '\u{e0041}',
        ] {
            assert!(is_format(c), "{c:?}");
        }
        for c in ['a', ' ', '\u{ac}', '\u{2065}', 'é', '\u{1F600}'] {
            assert!(!is_format(c), "{c:?}");
        }
        let mut last = 0;
        for (lo, hi) in FORMAT_CHARS {
            assert!(lo <= hi && (last == 0 || lo > last + 1));
            last = hi;
        }
    }

    #[test]
    fn utc_formats_rfc3339() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
    }
}
