//! `jwtauth config`: the effective settings and where each came from (SPEC §12).

use serde_json::{Map, Value, json};

use crate::cli::context::Ctx;
use crate::cli::error::Result;
use crate::cli::output;
use crate::config::Source;
use crate::keys;
use crate::settings::KeySource;

/// Prints one `key = value  (source)` line per setting, or with `--json` an object of
/// key → `{"value", "source"}`. The first entry, `config`, is the configuration file looked
/// at (`loaded` says whether it was read). `users`, `state` and `key` are the locations in
/// use, defaults resolved; a `JWT_SECRET_KEY` is shown only as set, never its bytes.
///
/// # Errors
/// Exit 8 when no home directory is known and no paths were given.
pub fn run(ctx: &Ctx) -> Result<()> {
    let settings = &ctx.settings;
    let config = &settings.config;
    let mut entries: Vec<(&str, Value, Source)> = Vec::new();
    let (file, file_source) = &ctx.config_file;
    entries.push((
        "config",
        file.as_ref().map_or(Value::Null, |p| json!(p)),
        file_source.clone(),
    ));
    let (key, key_source) = keys::describe(settings)?;
    let key = match key_source {
        KeySource::SecretEnv => json!("(JWT_SECRET_KEY is set)"),
        _ => json!(key),
    };
    for (name, value) in config.values() {
        let value = match name {
            "users" => json!(crate::store::redis::display(settings.users_path()?)),
            "state" => json!(crate::store::redis::display(settings.state_path()?)),
            "key" => key.clone(),
            _ => value,
        };
        entries.push((name, value, config.source(name).clone()));
    }
    if ctx.json {
        let mut out = Map::new();
        for (name, value, source) in entries {
            let mut entry = json!({"value": value, "source": source.as_str()});
            if let Source::File(p) = &source {
                entry["file"] = json!(p);
            }
            if name == "config" {
                entry["loaded"] = json!(config.file.is_some());
            }
            out.insert(name.to_string(), entry);
        }
        return output::json(&Value::Object(out));
    }
    let width = entries.iter().map(|(n, ..)| n.len()).max().unwrap_or(0);
    let lines: Vec<String> = entries
        .iter()
        .map(|(name, value, source)| {
            let shown = match value {
                Value::Null => "(none)".to_string(),
                v => output::value(v),
            };
            let source = match (name, source) {
                (&"config", _) if config.file.is_none() => format!("{source}, not present"),
                (_, Source::File(p)) => {
                    format!("file {}", output::printable(&p.display().to_string()))
                }
                _ => source.to_string(),
            };
            format!("{name:width$} = {shown}  ({source})")
        })
        .collect();
    output::text(lines.join("\n"))
}
