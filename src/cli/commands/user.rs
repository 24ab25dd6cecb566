//! `jwtauth user …`: manage the users file.

use serde_json::json;

use crate::auth;
use crate::authority::Authority;
use crate::cli::args::{
    UserAddArgs, UserCheckArgs, UserCommand, UserListArgs, UserNameArg, UserPasswdArgs,
    UserSetArgs, UserShowArgs,
};
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result};
use crate::cli::output;
use crate::cli::password_input::{self, Ask};
use crate::error::Error as CoreError;
use crate::passwords;
use crate::store::UserStore;
use crate::users::{self, User};

use super::records::Record;

/// Runs a `user` subcommand.
///
/// # Errors
/// Exit 6 for an unknown user, 7 for an existing one, 2 for bad input, 8 for file errors.
pub fn run(cmd: &UserCommand, ctx: &Ctx) -> Result<()> {
    match cmd {
        UserCommand::Add(a) => add(a, ctx),
        UserCommand::List(a) => list(a, ctx),
        UserCommand::Show(a) => show(a, ctx),
        UserCommand::Passwd(a) => passwd(a, ctx),
        UserCommand::Check(a) => check(a, ctx),
        UserCommand::Set(a) => set(a, ctx),
        UserCommand::Disable(a) => set_disabled(a, true, ctx),
        UserCommand::Enable(a) => set_disabled(a, false, ctx),
        UserCommand::Remove(a) => remove(a, ctx),
        UserCommand::Import(a) => super::htpasswd::import(a, ctx),
        UserCommand::Export(a) => super::htpasswd::export(a, ctx),
    }
}

/// Checks a name given to a command that needs an existing user: a name that could never be
/// valid cannot exist, so it is "no such user" only when well formed.
/// The authority of a `user` command: the stores opened when first needed.
fn authority(ctx: &Ctx) -> Result<Authority<'_>> {
    super::token::authority(ctx, super::token::lazy_key(ctx))
}

fn require_existing(users: &dyn UserStore, name: &str) -> Result<User> {
    users::check_name(name)?;
    users
        .get(name)?
        .ok_or_else(|| CoreError::UserNotFound(name.to_string()).into())
}

/// Refuses a `--full-name` or `--email` value with control characters.
fn check_text_fields(fields: [(&str, &Option<String>); 2]) -> Result<()> {
    for (what, v) in fields {
        if v.as_deref()
            .is_some_and(|s| s.chars().any(char::is_control))
        {
            return Err(Error::usage(what, "must not contain control characters"));
        }
    }
    Ok(())
}

fn add(args: &UserAddArgs, ctx: &Ctx) -> Result<()> {
    users::check_name(&args.name)?;
    check_text_fields([("--full-name", &args.full_name), ("--email", &args.email)])?;
    let allow_legacy = ctx.settings.config.allow_legacy_hashes;
    if let Some(h) = &args.hash {
        passwords::accepted(h, allow_legacy)?;
    }
    let scheme = ctx.scheme(args.scheme, args.cost)?;
    let users = ctx.users()?;
    let authority = authority(ctx)?;
    // Before prompting, fail fast rather than ask for a password in vain; scripts skip this
    // extra read of the file (the check in `add` is the one that counts).
    let prompts = args.hash.is_none() && !args.password.password_stdin;
    if prompts && !args.update && users.exists(&args.name)? {
        return Err(CoreError::UserExists(args.name.clone()).into());
    }
    if prompts && let Some(existing) = users.confusable_user(&args.name)? {
        return Err(CoreError::UserConfusable {
            name: args.name.clone(),
            existing,
        }
        .into());
    }
    let password = match &args.hash {
        Some(_) => None,
        None => {
            let p = password_input::read(&args.password, Ask::Confirm)?;
            // Refused before the store is touched: bcrypt takes at most 72 bytes.
            passwords::fits(&p, &scheme)?;
            Some(p)
        }
    };
    let build = || -> crate::error::Result<User> {
        let hashed_password = match (&args.hash, &password) {
            (Some(h), _) => h.clone(),
            (None, Some(p)) => passwords::hash(p, &scheme)?,
            (None, None) => {
                return Err(CoreError::invalid("password", "none was read"));
            }
        };
        Ok(User {
            username: args.name.clone(),
            full_name: args.full_name.clone(),
            email: args.email.clone(),
            hashed_password,
            disabled: false,
            created_at: ctx.now,
            password_changed_at: ctx.now,
            groups: Vec::new(),
        })
    };
    // bcrypt runs in `make`, outside the store's lock, so concurrent adds do not queue behind
    // each other's hashing. The user it builds is kept for `--update`, which hashes once.
    let mut made: Option<User> = None;
    // An upsert is an add, or an update when the name is taken; should the user be removed
    // in between, the add is tried again (a few times: a fight with `user remove` ends).
    let mut attempts = 0;
    let (user, updated) = loop {
        attempts += 1;
        let added = authority.add_user(&args.name, &mut || {
            let u = match &made {
                Some(u) => u.clone(),
                None => build()?,
            };
            made = Some(u.clone());
            Ok(u)
        });
        match added {
            Ok(u) => break (u, false),
            Err(CoreError::UserExists(_)) if args.update => {}
            Err(e) => return Err(e.into()),
        }
        let new = match made.take() {
            Some(u) => u,
            None => build()?,
        };
        // The core revokes first, as for `user passwd`.
        let changed = authority.change_password(&args.name, &new.hashed_password, &mut |u| {
            if let Some(f) = &args.full_name {
                u.full_name = Some(f.clone());
            }
            if let Some(e) = &args.email {
                u.email = Some(e.clone());
            }
        });
        match changed {
            Ok(u) => break (u, true),
            Err(CoreError::UserNotFound(_)) if attempts < 3 => made = Some(new),
            Err(e) => return Err(e.into()),
        }
    };
    if ctx.json {
        output::json(&Record::new(&user, false))
    } else {
        ctx.info(if updated {
            format!(
                "updated the password of {}; their earlier tokens are revoked",
                user.username
            )
        } else {
            format!("added user {}", user.username)
        });
        Ok(())
    }
}
/// Whether `u`'s hash is one `login` can check (with legacy hashes allowed or not).
fn hash_supported(u: &User, allow_legacy: bool) -> bool {
    passwords::accepted(&u.hashed_password, allow_legacy).is_ok()
}

/// The scheme of `u`'s hash when it is a legacy one (SPEC §15).
fn legacy_scheme(u: &User) -> Option<&'static str> {
    passwords::inspect(&u.hashed_password)
        .ok()
        .filter(passwords::HashInfo::is_legacy)
        .map(|i| i.scheme.name())
}

/// `user list`. A missing users file is an empty store (exit 0, no users), and stderr says
/// that there is no file at that path, in text and `--json` alike, so a wrong `--users` or
/// home is noticed (SPEC §15).
fn list(args: &UserListArgs, ctx: &Ctx) -> Result<()> {
    let all = ctx.users()?.list()?;
    let path = ctx.settings.users_path()?;
    let missing = all.is_empty() && crate::store::is_missing_file(path);
    if missing {
        ctx.info(format!(
            "no users file at {}; 'jwtauth user add NAME' creates it",
            path.display()
        ));
    }
    if ctx.json {
        let allow = ctx.settings.config.allow_legacy_hashes;
        let records: Vec<Record> = all
            .iter()
            .map(|u| Record::new(u, args.with_hash).allowing_legacy(allow))
            .collect();
        return output::json(&json!({ "users": records }));
    }
    if all.is_empty() {
        if !missing {
            ctx.info(format!(
                "no users in {}",
                crate::store::redis::display(path)
            ));
        }
        return Ok(());
    }
    let mut header = vec![
        "USERNAME",
        "FULL NAME",
        "EMAIL",
        "GROUPS",
        "STATUS",
        "CREATED",
    ];
    if args.with_hash {
        header.push("HASH");
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|u| {
            let mut row = vec![
                output::printable(&u.username),
                or_dash(u.full_name.as_deref()),
                or_dash(u.email.as_deref()),
                groups_text(&u.groups),
                format!(
                    "{}{}",
                    if u.disabled { "disabled" } else { "enabled" },
                    if !hash_supported(u, ctx.settings.config.allow_legacy_hashes) {
                        ", unsupported hash"
                    } else if legacy_scheme(u).is_some() {
                        ", legacy hash"
                    } else {
                        ""
                    }
                ),
                output::utc(u.created_at),
            ];
            if args.with_hash {
                row.push(output::printable(&u.hashed_password));
            }
            row
        })
        .collect();
    output::text(output::table(&header, &rows))
}

/// Groups for a table or a record: comma-separated and escaped, or `-` when none.
fn groups_text(groups: &[String]) -> String {
    if groups.is_empty() {
        "-".into()
    } else {
        output::printable(&groups.join(","))
    }
}

/// An optional field for a table or a record: escaped, or `-` when absent.
fn or_dash(v: Option<&str>) -> String {
    v.map_or_else(|| "-".into(), output::printable)
}

fn show(args: &UserShowArgs, ctx: &Ctx) -> Result<()> {
    let u = require_existing(ctx.users()?.as_ref(), &args.name)?;
    let allow = ctx.settings.config.allow_legacy_hashes;
    if ctx.json {
        return output::json(&Record::new(&u, args.with_hash).allowing_legacy(allow));
    }
    let mut s = format!(
        "username             {}\nfull_name            {}\nemail                {}\ngroups               {}\ndisabled             {}\ncreated_at           {}\npassword_changed_at  {}",
        output::printable(&u.username),
        or_dash(u.full_name.as_deref()),
        or_dash(u.email.as_deref()),
        groups_text(&u.groups),
        u.disabled,
        output::utc(u.created_at),
        output::utc(u.password_changed_at),
    );
    if !hash_supported(&u, allow) {
        s.push_str(
            "\nhash_supported       false (login refuses this user until 'jwtauth user passwd')",
        );
    } else if let Some(scheme) = legacy_scheme(&u) {
        s.push_str(&format!(
            "\nlegacy_hash          {scheme} (replaced by the configured scheme at the next login)"
        ));
    }
    if args.with_hash {
        s.push_str(&format!(
            "\nhashed_password      {}",
            output::printable(&u.hashed_password)
        ));
    }
    output::text(s)
}

fn passwd(args: &UserPasswdArgs, ctx: &Ctx) -> Result<()> {
    let users = ctx.users()?;
    let scheme = ctx.scheme(args.scheme, args.cost)?;
    let hash = match &args.hash {
        // A ready-made hash: checked like `user add --hash`, never a password on argv.
        Some(h) => {
            users::check_name(&args.name)?;
            passwords::accepted(h, ctx.settings.config.allow_legacy_hashes)?;
            h.clone()
        }
        None => {
            // Only a prompt is worth an early check; the one after hashing counts.
            if args.password.password_stdin {
                users::check_name(&args.name)?;
            } else {
                require_existing(users.as_ref(), &args.name)?;
            }
            let password = password_input::read(&args.password, Ask::Confirm)?;
            passwords::hash(&password, &scheme)?
        }
    };
    // Revoked first, by the core; nothing is revoked for a user that does not exist or
    // whose record is unreadable.
    authority(ctx)?.change_password(&args.name, &hash, &mut |_| {})?;
    ctx.info(format!(
        "changed the password of {}; their earlier tokens are revoked",
        args.name
    ));
    Ok(())
}

fn set_disabled(args: &UserNameArg, disabled: bool, ctx: &Ctx) -> Result<()> {
    let users = ctx.users()?;
    // Nothing to do: say so rather than report a change that did not happen.
    if require_existing(users.as_ref(), &args.name)?.disabled == disabled {
        ctx.info(format!(
            "user {} is already {}; nothing changed",
            args.name,
            if disabled { "disabled" } else { "enabled" }
        ));
        return Ok(());
    }
    authority(ctx)?.set_disabled(&args.name, disabled)?;
    ctx.info(format!(
        "{} {}",
        if disabled {
            "disabled user (tokens revoked)"
        } else {
            "enabled user"
        },
        args.name
    ));
    Ok(())
}

fn remove(args: &UserNameArg, ctx: &Ctx) -> Result<()> {
    users::check_name(&args.name)?;
    authority(ctx)?.remove_user(&args.name)?;
    ctx.info(format!("removed user {} (tokens revoked)", args.name));
    Ok(())
}

/// `user check NAME`: htpasswd's `-v`. The core's login check (one answer and one time for
/// an unknown user, a wrong password and a disabled user), with no token, no key and no
/// write.
fn check(args: &UserCheckArgs, ctx: &Ctx) -> Result<()> {
    users::check_name(&args.name)?;
    password_input::check_source(&args.password)?;
    let password = password_input::read(&args.password, Ask::Once)?;
    // A check writes nothing: no rehash here (a `login` upgrades the hash).
    let checked = auth::authenticate(
        ctx.users()?.as_ref(),
        &args.name,
        &password,
        &ctx.hash_policy().read_only(),
    );
    drop(password);
    match checked {
        Ok(_) if ctx.json => output::json(&json!({"match": true})),
        Ok(u) => {
            ctx.info(format!("password for user {} is correct", u.user.username));
            Ok(())
        }
        Err(CoreError::LoginRefused) => {
            if ctx.json {
                output::json(&json!({"match": false}))?;
            }
            Err(CoreError::LoginRefused.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The groups `args` leave a user with who has `current`: `--group` replaces, `--no-groups`
/// empties, `--add-group`/`--remove-group` edit; repeated names count once, order is kept.
fn new_groups(args: &UserSetArgs, current: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let keep = |out: &mut Vec<String>, g: &String| {
        if !out.contains(g) {
            out.push(g.clone());
        }
    };
    if !args.groups.is_empty() {
        args.groups.iter().for_each(|g| keep(&mut out, g));
        return out;
    }
    if args.no_groups {
        return out;
    }
    current
        .iter()
        .chain(&args.add_group)
        .filter(|g| !args.remove_group.contains(g))
        .for_each(|g| keep(&mut out, g));
    out
}

/// `user set NAME …`: edits the record under the store's lock; what is not named stays.
fn set(args: &UserSetArgs, ctx: &Ctx) -> Result<()> {
    users::check_name(&args.name)?;
    check_text_fields([("--full-name", &args.full_name), ("--email", &args.email)])?;
    for g in args
        .groups
        .iter()
        .chain(&args.add_group)
        .chain(&args.remove_group)
    {
        users::check_group(g)?;
    }
    let touches_groups = !args.groups.is_empty()
        || args.no_groups
        || !args.add_group.is_empty()
        || !args.remove_group.is_empty();
    if args.full_name.is_none() && args.email.is_none() && !touches_groups {
        return Err(Error::usage(
            "user set",
            "nothing to change: give --full-name, --email, --group, --no-groups, --add-group or --remove-group",
        ));
    }
    // A token names the groups it was issued with: the core revokes the user's earlier
    // tokens first when a group is taken away, so none still claims it.
    let clear = |v: &str| (!v.is_empty()).then(|| v.to_string());
    let (user, revoke) = authority(ctx)?.edit_user(&args.name, &mut |u| {
        if let Some(f) = &args.full_name {
            u.full_name = clear(f);
        }
        if let Some(e) = &args.email {
            u.email = clear(e);
        }
        if touches_groups {
            // Computed on the record as it is under the lock, so a concurrent
            // `--add-group` is not lost.
            u.groups = new_groups(args, &u.groups);
        }
    })?;
    if ctx.json {
        return output::json(&Record::new(&user, false));
    }
    ctx.info(if revoke {
        format!(
            "updated user {}; a group was removed, so their earlier tokens are revoked",
            user.username
        )
    } else {
        format!("updated user {}", user.username)
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_args(groups: &[&str], no: bool, add: &[&str], remove: &[&str]) -> UserSetArgs {
        let v = |s: &[&str]| s.iter().map(|g| g.to_string()).collect();
        UserSetArgs {
            name: "alice".into(),
            full_name: None,
            email: None,
            groups: v(groups),
            no_groups: no,
            add_group: v(add),
            remove_group: v(remove),
        }
    }

    #[test]
    fn groups_are_replaced_cleared_or_edited() {
        let cur: Vec<String> = vec!["a".into(), "b".into()];
        assert_eq!(
            new_groups(&set_args(&["c", "c", "d"], false, &[], &[]), &cur),
            ["c", "d"]
        );
        assert!(new_groups(&set_args(&[], true, &[], &[]), &cur).is_empty());
        assert_eq!(
            new_groups(&set_args(&[], false, &["c", "a"], &["b"]), &cur),
            ["a", "c"]
        );
        assert_eq!(
            new_groups(&set_args(&[], false, &[], &["x"]), &cur),
            ["a", "b"]
        );
    }
}
