//! `jwtauth user import FILE` and `jwtauth user export`: the htpasswd file format (`name:hash`
//! lines), so users move between Apache-style tooling and jwtauth; `user export --json` prints
//! the records instead.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::cli::args::{UserExportArgs, UserImportArgs};
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result};
use crate::cli::output;
use crate::error::Error as CoreError;
use crate::json;
use crate::passwords;
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

/// Why `hash` cannot be imported (its kind and the reason), or `None` when it can: one rule
/// for htpasswd lines and `user export --json` records.
fn refused_hash(hash: &str, allow_legacy: bool) -> Option<(&'static str, String)> {
    let e = passwords::accepted(hash, allow_legacy).err()?;
    let kind = foreign_kind(hash);
    let reason = match passwords::inspect(hash) {
        Ok(_) => format!("{kind} hash, refused by allow_legacy_hashes = false"),
        Err(_) if kind == PLAIN => format!("{kind} hash, not supported"),
        Err(_) => format!("{kind} hash: {}", usage_why(&e)),
    };
    Some((kind, reason))
}

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
        if let Some((kind, reason)) = refused_hash(bare, allow_legacy) {
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
        CoreError::Group { rule, .. } => crate::cli::error::group_rule(*rule),
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

/// What an import file holds: the users to import with the line each came from, and the
/// lines (or records) skipped.
type Parsed = (Vec<(usize, User)>, Vec<Skipped>);

/// A record of `user export --json` output, as `user import` reads it. Fields it does not
/// know (`hash_supported`, which export prints) are ignored.
#[derive(Deserialize)]
struct JsonRecord {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    hashed_password: Option<String>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    password_changed_at: Option<i64>,
    #[serde(default)]
    groups: Vec<String>,
}

/// The records of a JSON document: `{"users": [...]}` as `user export --json` prints it, or
/// a users file's `{"users": {"name": {...}}}`.
#[derive(Deserialize)]
struct JsonDoc<'a> {
    #[serde(borrow)]
    users: Option<&'a RawValue>,
}

/// Whether an import file is JSON (SPEC §15): its first non-space character is `{`. (A user
/// named `{…` in an htpasswd file would be read as JSON and refused with exit 8: export it
/// as JSON instead.)
fn is_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// The `users` object of an import, for [`json::Ordered`].
struct Records;

impl json::Object for Records {
    const EXPECTING: &'static str = "an object of user records";
}

/// Parses `user export --json` output into users (with their times, e-mail, full name,
/// groups and disabled state as they were) and skipped records; `now` stands in for a time
/// a record lacks.
///
/// # Errors
/// Exit 8 when the file is not a JSON document with a `users` list (or object).
fn parse_json(path: &Path, text: &str, now: i64, allow_legacy: bool) -> Result<Parsed> {
    let not_export = |why: String| -> Error {
        CoreError::corrupt(
            path,
            format!("{why}; expected 'jwtauth user export --json' output, {{\"users\": [...]}}"),
        )
        .into()
    };
    let doc: JsonDoc = serde_json::from_str(text).map_err(|e| {
        not_export(format!(
            "not valid JSON at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    let Some(users) = doc.users else {
        return Err(not_export("no \"users\"".into()));
    };
    let records: Vec<(Option<String>, &RawValue)> = match users.get().trim_start().as_bytes() {
        [b'[', ..] => serde_json::from_str::<Vec<&RawValue>>(users.get())
            .map_err(|_| not_export("\"users\" is not a list".into()))?
            .into_iter()
            .map(|r| (None, r))
            .collect(),
        // In file order, a name given twice kept: it is skipped as a duplicate below, as in a
        // list, never "last one wins" (SPEC §8).
        [b'{', ..] => {
            serde_json::from_str::<json::Ordered<String, &RawValue, Records>>(users.get())
                .map_err(|_| not_export("\"users\" is not an object".into()))?
                .entries
                .into_iter()
                .map(|(k, r)| (Some(k), r))
                .collect()
        }
        _ => return Err(not_export("\"users\" is not a list".into())),
    };
    // The line a record starts on, for the report (`user export --json` prints one line).
    let newlines: Vec<usize> = memchr::memchr_iter(b'\n', text.as_bytes()).collect();
    let line_of = |raw: &RawValue| {
        let at = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        newlines.partition_point(|&n| n < at) + 1
    };
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = BTreeSet::new();
    for (key, raw) in records {
        let line = line_of(raw);
        let mut skip = |name: &str, kind: &'static str, reason: String| {
            skipped.push(Skipped {
                line,
                name: name.to_string(),
                reason,
                kind,
            })
        };
        let Ok(r) = serde_json::from_str::<JsonRecord>(raw.get()) else {
            // Named in the report when its username, at least, can be read.
            #[derive(Deserialize)]
            struct NameOnly {
                username: String,
            }
            let named = serde_json::from_str::<NameOnly>(raw.get()).ok();
            skip(
                named
                    .as_ref()
                    .map(|n| n.username.as_str())
                    .or(key.as_deref())
                    .unwrap_or(""),
                "malformed record",
                "not a user record (username and hashed_password strings, disabled true or false, times as integers, groups a list of strings)".into(),
            );
            continue;
        };
        let name = match (&key, &r.username) {
            (Some(k), Some(u)) if k != u => {
                skip(k, "malformed record", format!("its username is {u:?}"));
                continue;
            }
            (_, Some(n)) | (Some(n), None) => users::normalize_name(n).into_owned(),
            (None, None) => {
                skip("", "malformed record", "no username".into());
                continue;
            }
        };
        if let Err(e) = users::check_name(&name) {
            skip(
                &name,
                "invalid user name",
                format!("invalid user name: {}", usage_why(&e)),
            );
            continue;
        }
        let Some(hash) = r.hashed_password else {
            skip(
                &name,
                "no hash",
                "no hashed_password (export with 'jwtauth user export --json')".into(),
            );
            continue;
        };
        if let Some((kind, reason)) = refused_hash(&hash, allow_legacy) {
            skip(&name, kind, reason);
            continue;
        }
        let bad_text = [("full_name", &r.full_name), ("email", &r.email)]
            .into_iter()
            .find(|(_, v)| {
                v.as_deref()
                    .is_some_and(|s| s.chars().any(char::is_control))
            });
        if let Some((field, _)) = bad_text {
            skip(
                &name,
                "invalid field",
                format!("{field} contains control characters"),
            );
            continue;
        }
        if let Some(e) = r.groups.iter().find_map(|g| users::check_group(g).err()) {
            skip(
                &name,
                "invalid group",
                format!("invalid group: {}", usage_why(&e)),
            );
            continue;
        }
        if !seen.insert(name.clone()) {
            skip(&name, "duplicate", "appears earlier in the file".into());
            continue;
        }
        out.push((
            line,
            User {
                username: name,
                full_name: r.full_name,
                email: r.email,
                hashed_password: hash,
                disabled: r.disabled,
                created_at: r.created_at.unwrap_or(now),
                password_changed_at: r.password_changed_at.unwrap_or(now),
                groups: r.groups,
            },
        ));
    }
    Ok((out, skipped))
}

/// `user import FILE [--replace]`: htpasswd lines, or `user export --json` output.
///
/// # Errors
/// Exit 8 when FILE cannot be read (or is JSON of another shape) or the users file is
/// unreadable or locked; exit 1 when FILE has users and none was imported or replaced.
pub fn import(args: &UserImportArgs, ctx: &Ctx) -> Result<()> {
    let text = read_input(&args.file)?;
    let allow_legacy = ctx.settings.config.allow_legacy_hashes;
    let (incoming, mut skipped) = if is_json(&text) {
        parse_json(&args.file, &text, ctx.now, allow_legacy)?
    } else {
        // Names are stored in NFC (SPEC §15). Normalizing the whole text changes only the
        // names: every hash that can be imported is ASCII, which NFC leaves alone.
        let text = users::normalize_name(&text);
        let (entries, skipped) = parse(&text, allow_legacy);
        let incoming = entries
            .into_iter()
            .map(|e| {
                (
                    e.line,
                    User {
                        username: e.name,
                        full_name: None,
                        email: None,
                        hashed_password: e.hash,
                        disabled: e.disabled,
                        created_at: ctx.now,
                        password_changed_at: ctx.now,
                        groups: Vec::new(),
                    },
                )
            })
            .collect::<Vec<_>>();
        (incoming, skipped)
    };
    let offered = incoming.len() + skipped.len();
    let lines: BTreeMap<String, usize> = incoming
        .iter()
        .map(|(line, u)| (u.username.clone(), *line))
        .collect();
    // With --replace, the core revokes the tokens of users whose hash changes or who become
    // disabled before the new records land (as `user passwd` does).
    let authority = super::token::authority(ctx, super::token::lazy_key(ctx))?;
    let done =
        authority.import_users(incoming.into_iter().map(|(_, u)| u).collect(), args.replace)?;
    let line_of = |name: &str| lines.get(name).copied().unwrap_or_default();
    let exists = done.kept.iter().map(|name| Skipped {
        line: line_of(name),
        name: name.clone(),
        reason: "user already exists (use --replace)".into(),
        kind: "existing user",
    });
    let confusable = done.confusable.iter().map(|(name, other)| Skipped {
        line: line_of(name),
        name: name.clone(),
        reason: format!("confusable with the user {other:?} (UTS #39)"),
        kind: "confusable name",
    });
    let (imported, replaced) = (done.added, done.replaced);
    skipped.extend(exists.chain(confusable));
    skipped.sort_by_key(|s| s.line);
    report(ctx, &args.file, &imported, &replaced, &skipped);
    let nothing = offered > 0 && imported.is_empty() && replaced.is_empty();
    if ctx.json {
        output::json(&Summary {
            imported,
            replaced,
            skipped,
        })?;
    }
    if nothing {
        return Err(Error::NothingImported {
            file: if args.file.as_os_str() == "-" {
                "stdin".into()
            } else {
                args.file.display().to_string()
            },
            why: format!("all {offered} skipped"),
        });
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
        let records: Vec<super::records::Record> = all
            .iter()
            .map(|u| super::records::Record::new(u, true))
            .collect();
        return output::json(&serde_json::json!({ "users": records }));
    }
    let mut out = String::new();
    let mut disabled = 0;
    let mut unchecked = Vec::new();
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
        if let Some(why) = htpasswd_gap(&u.hashed_password) {
            unchecked.push(format!("{} ({why})", u.username));
        }
    }
    if !unchecked.is_empty() {
        ctx.info(format!(
            "htpasswd cannot check the hashes of {} exported user(s): {}",
            unchecked.len(),
            unchecked.join(", ")
        ));
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

/// Why `htpasswd -v` may not check `hash`, if so. It checks with APR's
/// `apr_password_validate`: bcrypt `$2a$`/`$2y$`, `$apr1$` and `{SHA}` itself, anything else
/// through the system's crypt(3) — glibc/libxcrypt (Linux) checks `$2b$`, `$5$`, `$6$` and
/// `$1$`, other platforms may not (Windows has no crypt). No crypt(3) checks argon2.
fn htpasswd_gap(hash: &str) -> Option<&'static str> {
    let hash = hash.strip_prefix(DISABLED_PREFIX).unwrap_or(hash);
    if hash.starts_with("$argon2") {
        Some("argon2id")
    } else if ["$5$", "$6$", "$1$"].iter().any(|p| hash.starts_with(p)) {
        Some("SHA-crypt or MD5-crypt: only where the system's crypt(3) has it, as on Linux")
    } else {
        None
    }
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
