//! `jwtauth user …`: manage the users file.

use serde::Serialize;
use serde_json::json;

use crate::cli::args::{
    UserAddArgs, UserCommand, UserListArgs, UserNameArg, UserPasswdArgs, UserShowArgs,
};
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result};
use crate::cli::output;
use crate::cli::password_input::{self, Ask};
use crate::error::Error as CoreError;
use crate::passwords;
use crate::store::{Lookups, UserStore};
use crate::users::{self, User};

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
        UserCommand::Disable(a) => set_disabled(a, true, ctx),
        UserCommand::Enable(a) => set_disabled(a, false, ctx),
        UserCommand::Remove(a) => remove(a, ctx),
        UserCommand::Import(a) => super::htpasswd::import(a, ctx),
        UserCommand::Export(a) => super::htpasswd::export(a, ctx),
    }
}

/// Checks a name given to a command that needs an existing user: a name that could never be
/// valid cannot exist, so it is "no such user" only when well formed.
fn require_existing(users: &dyn UserStore, name: &str) -> Result<User> {
    users::check_name(name)?;
    users
        .get(name)?
        .ok_or_else(|| CoreError::UserNotFound(name.to_string()).into())
}

fn add(args: &UserAddArgs, ctx: &Ctx) -> Result<()> {
    users::check_name(&args.name)?;
    for (what, v) in [("--full-name", &args.full_name), ("--email", &args.email)] {
        if v.as_deref()
            .is_some_and(|s| s.chars().any(char::is_control))
        {
            return Err(Error::usage(what, "must not contain control characters"));
        }
    }
    if let Some(h) = &args.hash {
        passwords::check_hash_format(h)?;
    }
    let users = ctx.users()?;
    // Before prompting, fail fast rather than ask for a password in vain; scripts skip this
    // extra read of the file (the check in `add` is the one that counts).
    let prompts = args.hash.is_none() && !args.password.password_stdin;
    if prompts && users.exists(&args.name)? {
        return Err(CoreError::UserExists(args.name.clone()).into());
    }
    let password = match &args.hash {
        Some(_) => None,
        None => Some(password_input::read(&args.password, Ask::Confirm)?),
    };
    // bcrypt runs in `make`, outside the store's lock, so concurrent adds do not queue behind
    // each other's hashing.
    let user = users.add(&args.name, &mut || {
        let hashed_password = match (&args.hash, &password) {
            (Some(h), _) => h.clone(),
            (None, Some(p)) => passwords::hash(p, ctx.cost(args.cost))?,
            (None, None) => unreachable!("a password is read whenever there is no --hash"),
        };
        Ok(User {
            username: args.name.clone(),
            full_name: args.full_name.clone(),
            email: args.email.clone(),
            hashed_password,
            disabled: false,
            created_at: ctx.now,
            password_changed_at: ctx.now,
        })
    })?;
    if ctx.json {
        output::json(&Record::new(&user, false))
    } else {
        ctx.info(format!("added user {}", user.username));
        Ok(())
    }
}
/// A user as printed: the hash only when asked for.
#[derive(Serialize)]
struct Record<'a> {
    username: &'a str,
    full_name: Option<&'a str>,
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hashed_password: Option<&'a str>,
    disabled: bool,
    created_at: i64,
    password_changed_at: i64,
    /// False when `hashed_password` is not a bcrypt hash jwtauth can check: `login` refuses
    /// such a user with exit 8 (SPEC §8).
    hash_supported: bool,
}

/// Whether `u`'s hash is one `login` can check.
fn hash_supported(u: &User) -> bool {
    passwords::check_hash_format(&u.hashed_password).is_ok()
}

impl<'a> Record<'a> {
    fn new(u: &'a User, with_hash: bool) -> Self {
        Record {
            username: &u.username,
            full_name: u.full_name.as_deref(),
            email: u.email.as_deref(),
            hashed_password: with_hash.then_some(u.hashed_password.as_str()),
            disabled: u.disabled,
            created_at: u.created_at,
            password_changed_at: u.password_changed_at,
            hash_supported: hash_supported(u),
        }
    }
}

fn list(args: &UserListArgs, ctx: &Ctx) -> Result<()> {
    let all = ctx.users()?.list()?;
    if ctx.json {
        let records: Vec<Record> = all.iter().map(|u| Record::new(u, args.with_hash)).collect();
        return output::json(&json!({ "users": records }));
    }
    if all.is_empty() {
        ctx.info(format!(
            "no users in {}",
            ctx.settings.users_path()?.display()
        ));
        return Ok(());
    }
    let mut header = vec!["USERNAME", "FULL NAME", "EMAIL", "STATUS", "CREATED"];
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
                format!(
                    "{}{}",
                    if u.disabled { "disabled" } else { "enabled" },
                    if hash_supported(u) {
                        ""
                    } else {
                        ", unsupported hash"
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

/// An optional field for a table or a record: escaped, or `-` when absent.
fn or_dash(v: Option<&str>) -> String {
    v.map_or_else(|| "-".into(), output::printable)
}

fn show(args: &UserShowArgs, ctx: &Ctx) -> Result<()> {
    let u = require_existing(ctx.users()?.as_ref(), &args.name)?;
    if ctx.json {
        return output::json(&Record::new(&u, args.with_hash));
    }
    let mut s = format!(
        "username             {}\nfull_name            {}\nemail                {}\ndisabled             {}\ncreated_at           {}\npassword_changed_at  {}",
        output::printable(&u.username),
        or_dash(u.full_name.as_deref()),
        or_dash(u.email.as_deref()),
        u.disabled,
        output::utc(u.created_at),
        output::utc(u.password_changed_at),
    );
    if !hash_supported(&u) {
        s.push_str(
            "\nhash_supported       false (login refuses this user until 'jwtauth user passwd')",
        );
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
    // Only a prompt is worth an early check; the one after hashing counts.
    if args.password.password_stdin {
        users::check_name(&args.name)?;
    } else {
        require_existing(users.as_ref(), &args.name)?;
    }
    let password = password_input::read(&args.password, Ask::Confirm)?;
    let hash = passwords::hash(&password, ctx.cost(args.cost))?;
    drop(password);
    // Nothing is revoked for a user that does not exist or whose record is unreadable.
    require_existing(users.as_ref(), &args.name)?;
    // Revoke first: a crash in between leaves the old password with no live tokens, never
    // the new password with the old tokens still accepted.
    ctx.revocations(Lookups::Few)?
        .revoke_subject(&args.name, ctx.now, ctx.now)?;
    users.update(&args.name, &mut |u| {
        u.hashed_password = hash.clone();
        u.password_changed_at = ctx.now;
        Ok(())
    })?;
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
    if disabled {
        ctx.revocations(Lookups::Few)?
            .revoke_subject(&args.name, ctx.now, ctx.now)?;
    }
    users.update(&args.name, &mut |u| {
        u.disabled = disabled;
        Ok(())
    })?;
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
    let users = ctx.users()?;
    require_existing(users.as_ref(), &args.name)?;
    ctx.revocations(Lookups::Few)?
        .revoke_subject(&args.name, ctx.now, ctx.now)?;
    users.remove(&args.name)?;
    ctx.info(format!("removed user {} (tokens revoked)", args.name));
    Ok(())
}
