//! `jwtauth user import FILE` and `jwtauth user export`: the htpasswd file format (`name:hash`
//! lines), so users move between Apache-style tooling and jwtauth; `user export --json` prints
//! the records instead.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::cli::args::{UserExportArgs, UserImportArgs};
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result};
use crate::cli::output;
use crate::error::Error as CoreError;
use crate::passwords;
use crate::store::Lookups;
use crate::users::{self, User};

/// The prefix `user export --htpasswd` puts before a disabled user's hash. No password matches
/// a hash that starts with it, and `user import` reads it back as a disabled user.
pub const DISABLED_PREFIX: char = '!';

/// Why a line of an htpasswd file was not imported.
#[derive(Debug, Clone, Serialize)]
struct Skipped {
    line: usize,
    name: String,
    reason: String,
    /// A short label to count skips by in the summary.
    #[serde(skip)]
    kind: &'static str,
}

/// The `--json` summary of an import.
#[derive(Debug, Serialize)]
struct Summary {
    imported: Vec<String>,
    replaced: Vec<String>,
    skipped: Vec<Skipped>,
}

/// A line with a supported hash (bcrypt, argon2id, or a legacy one when allowed), ready to
/// become a user.
struct Entry {
    line: usize,
    name: String,
    hash: String,
    disabled: bool,
}

/// What kind of hash an htpasswd line carries, when it is not one we can import: a legacy one
/// refused by the configuration or malformed, or one we do not know.
fn foreign_kind(hash: &str) -> &'static str {
    if hash.starts_with("$apr1$") {
        "MD5 ($apr1$)"
    } else if hash.starts_with("{SHA}") {
        "SHA-1 ({SHA})"
    } else if hash.starts_with("$5$") {
        "SHA-256 crypt ($5$)"
    } else if hash.starts_with("$6$") {
        "SHA-512 crypt ($6$)"
    } else if hash.starts_with("$1$") {
        "MD5 crypt ($1$)"
    } else if hash.starts_with("$argon2") {
        "argon2i, argon2d or out-of-bounds argon2"
    } else if hash.starts_with("$2") {
        "malformed bcrypt"
    } else {
        PLAIN
    }
}

/// The kind of a line whose hash looks like nothing we know: DES crypt, plain text.
const PLAIN: &str = "crypt or plain text";

/// Parses the file into importable entries and skipped lines. Comments (`#`) and blank lines
/// are ignored. Legacy hashes (`$apr1$`, `{SHA}`, `$1$`, `$5$`, `$6$`) are imported unless
/// `allow_legacy` is false (config `allow_legacy_hashes`, SPEC §15).
fn parse(text: &str, allow_legacy: bool) -> (Vec<Entry>, Vec<Skipped>) {
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim_end_matches('\r');
        if l.trim().is_empty() || l.starts_with('#') {
            continue;
        }
        let mut skip = |name: &str, kind: &'static str, reason: String| {
            skipped.push(Skipped {
                line,
                name: name.to_string(),
                reason,
                kind,
            })
        };
        let Some((name, hash)) = l.split_once(':') else {
            skip("", "malformed line", "not a name:hash line".into());
            continue;
        };
        if let Err(e) = users::check_name(name) {
            skip(
                name,
                "invalid user name",
                format!("invalid user name: {}", usage_why(&e)),
            );
            continue;
        }
        let (disabled, bare) = match hash.strip_prefix(DISABLED_PREFIX) {
            Some(h) => (true, h),
            None => (false, hash),
        };
        if let Err(e) = passwords::accepted(bare, allow_legacy) {
            let kind = foreign_kind(bare);
            let reason = match passwords::inspect(bare) {
                Ok(_) => format!("{kind} hash, refused by allow_legacy_hashes = false"),
                Err(_) if kind == PLAIN => format!("{kind} hash, not supported"),
                Err(_) => format!("{kind} hash: {}", usage_why(&e)),
            };
            skip(name, kind, reason);
            continue;
        }
        if !seen.insert(name.to_string()) {
            skip(name, "duplicate", "appears earlier in the file".into());
            continue;
        }
        entries.push(Entry {
            line,
            name: name.to_string(),
            hash: bare.to_string(),
            disabled,
        });
    }
    (entries, skipped)
}

fn usage_why(e: &CoreError) -> String {
    match e {
        CoreError::Invalid { why, .. } => why.clone(),
        other => other.to_string(),
    }
}

fn read_input(path: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::usage("stdin", e))?;
    } else {
        bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| CoreError::corrupt(path, "not UTF-8 text; expected name:hash lines"))?;
    // Editors on Windows start a UTF-8 file with a BOM; it is not part of the first name.
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// `user import FILE [--replace]`.
///
/// # Errors
/// Exit 8 when FILE cannot be read or the users file is unreadable or locked.
pub fn import(args: &UserImportArgs, ctx: &Ctx) -> Result<()> {
    let text = read_input(&args.file)?;
    let (entries, mut skipped) = parse(&text, ctx.settings.config.allow_legacy_hashes);
    let users = ctx.users()?;
    if args.replace {
        // Revoke before the new hashes land (as `user passwd` does): a crash in between leaves
        // the old password with no live tokens, never a new password with old tokens alive.
        let current: BTreeMap<String, User> = users
            .list()?
            .into_iter()
            .map(|u| (u.username.clone(), u))
            .collect();
        let changing: Vec<&str> = entries
            .iter()
            .filter(|e| {
                current
                    .get(&e.name)
                    .is_some_and(|u| u.hashed_password != e.hash || (e.disabled && !u.disabled))
            })
            .map(|e| e.name.as_str())
            .collect();
        if !changing.is_empty() {
            ctx.revocations(Lookups::Few)?
                .revoke_subjects(&changing, ctx.now, ctx.now)?;
        }
    }
    let lines: BTreeMap<&str, usize> = entries.iter().map(|e| (e.name.as_str(), e.line)).collect();
    let done = users.import(
        entries
            .iter()
            .map(|e| User {
                username: e.name.clone(),
                full_name: None,
                email: None,
                hashed_password: e.hash.clone(),
                disabled: e.disabled,
                created_at: ctx.now,
                password_changed_at: ctx.now,
                groups: Vec::new(),
            })
            .collect(),
        args.replace,
    )?;
    let exists = done.kept.iter().map(|name| Skipped {
        line: lines.get(name.as_str()).copied().unwrap_or_default(),
        name: name.clone(),
        reason: "user already exists (use --replace)".into(),
        kind: "existing user",
    });
    let (imported, replaced) = (done.added, done.replaced);
    skipped.extend(exists);
    skipped.sort_by_key(|s| s.line);
    report(ctx, &args.file, &imported, &replaced, &skipped);
    if ctx.json {
        output::json(&Summary {
            imported,
            replaced,
            skipped,
        })?;
    }
    Ok(())
}

/// The human summary on stderr: one line per skipped entry, then the counts.
fn report(ctx: &Ctx, file: &Path, imported: &[String], replaced: &[String], skipped: &[Skipped]) {
    for s in skipped {
        let who = if s.name.is_empty() {
            String::new()
        } else {
            format!(" {:?}", s.name)
        };
        ctx.info(format!(
            "{}:{}:{who} skipped: {}",
            file.display(),
            s.line,
            s.reason
        ));
    }
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for s in skipped {
        *reasons.entry(s.kind).or_default() += 1;
    }
    let mut msg = format!("imported {}", imported.len());
    if !replaced.is_empty() {
        msg.push_str(&format!(", replaced {}", replaced.len()));
    }
    msg.push_str(&format!(", skipped {}", skipped.len()));
    if !reasons.is_empty() {
        let parts: Vec<String> = reasons.iter().map(|(k, n)| format!("{n} {k}")).collect();
        msg.push_str(&format!(": {}", parts.join(", ")));
    }
    ctx.info(msg);
}

/// `user export [--htpasswd]`: `name:hash` lines on stdout; with `--json`, every record with
/// its hash, `{"users": [...]}` (the shape of `user list --json --with-hash`).
///
/// # Errors
/// Exit 2 for `--json` with `--htpasswd`, 8 when the users file is unreadable.
pub fn export(args: &UserExportArgs, ctx: &Ctx) -> Result<()> {
    if ctx.json && args.htpasswd {
        return Err(Error::usage(
            "--json with --htpasswd",
            "choose one format: htpasswd lines (the default) or --json",
        ));
    }
    let all = ctx.users()?.list()?;
    if ctx.json {
        let records: Vec<super::user::Record> = all
            .iter()
            .map(|u| super::user::Record::new(u, true))
            .collect();
        return output::json(&serde_json::json!({ "users": records }));
    }
    let mut out = String::new();
    let mut disabled = 0;
    for u in &all {
        if u.username.contains(':') {
            ctx.info(format!(
                "user {:?} not exported: htpasswd names cannot contain ':'",
                u.username
            ));
            continue;
        }
        // A hand-edited users file could hold a name or hash that would add a line.
        if users::check_name(&u.username).is_err()
            || u.hashed_password.chars().any(|c| c.is_control())
        {
            ctx.info(format!(
                "user {:?} not exported: its name or hash is not valid",
                u.username
            ));
            continue;
        }
        out.push_str(&u.username);
        out.push(':');
        if u.disabled {
            disabled += 1;
            out.push(DISABLED_PREFIX);
        }
        out.push_str(&u.hashed_password);
        out.push('\n');
    }
    if disabled > 0 {
        ctx.info(format!(
            "{disabled} disabled user(s) exported with '{DISABLED_PREFIX}' before the hash, so no password matches"
        ));
    }
    if out.is_empty() {
        return Ok(());
    }
    out.pop();
    output::text(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sorts_lines_into_entries_and_skips() {
        let b = bcrypt::hash("x", 4).unwrap();
        let text = format!(
            "alice:{b}\n# comment\n\nmd5:$apr1$abc$def\nsha:{{SHA}}abc=\nplain:secret\nbad name:{b}\nnocolon\nalice:{b}\nlocked:!{b}\r\n"
        );
        let (entries, skipped) = parse(&text, true);
        let names: Vec<_> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.disabled))
            .collect();
        assert_eq!(names, [("alice", false), ("locked", true)]);
        assert_eq!(entries[1].hash, b);
        let lines: Vec<_> = skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [4, 5, 6, 7, 8, 9]);
        assert_eq!(
            skipped[0].reason,
            "MD5 ($apr1$) hash: expected a digest of 22 characters of [./0-9A-Za-z] after the salt"
        );
        assert_eq!(
            skipped[1].reason,
            "SHA-1 ({SHA}) hash: expected 28 characters of base64 (a SHA-1 digest) after {SHA}"
        );
        assert_eq!(skipped[2].reason, "crypt or plain text hash, not supported");
        assert_eq!(skipped[5].reason, "appears earlier in the file");
        assert!(skipped[3].reason.starts_with("invalid user name"));
    }

    #[test]
    fn legacy_lines_import_unless_refused() {
        let text = "md5:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\nsha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\ndes:VkW14JL15w4Wg\n";
        let (entries, skipped) = parse(text, true);
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["md5", "sha"]);
        assert_eq!(skipped.len(), 1);
        let (entries, skipped) = parse(text, false);
        assert!(entries.is_empty());
        assert_eq!(
            skipped[0].reason,
            "MD5 ($apr1$) hash, refused by allow_legacy_hashes = false"
        );
        assert_eq!(
            skipped[1].reason,
            "SHA-1 ({SHA}) hash, refused by allow_legacy_hashes = false"
        );
    }
}
