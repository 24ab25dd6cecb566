//! `jwtauth user …`: manage the users file.

use serde::Serialize;
use serde_json::json;

use crate::cli::{
    UserAddArgs, UserCommand, UserListArgs, UserNameArg, UserPasswdArgs, UserShowArgs,
};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::passwords::{self, Ask};
use crate::store::ReadAhead;
use crate::users::{self, User, UserStore};
use crate::{output, revocations, store};

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

fn load(ctx: &Ctx) -> Result<UserStore> {
    store::load(ctx.users_path()?)
}

/// Checks a name given to a command that needs an existing user: a name that could never be
/// valid cannot exist, so it is "no such user" only when well formed.
fn require_existing(ctx: &Ctx, name: &str) -> Result<User> {
    users::check_name(name)?;
    load(ctx)?.require(ctx.users_path()?, name)
}

/// `require_existing` on the file as read ahead (`ahead`, else read now), which is returned
/// for the update that follows: that update then need not parse the file again when it has
/// not changed since.
fn read_existing(
    ctx: &Ctx,
    name: &str,
    ahead: Option<ReadAhead<UserStore>>,
) -> Result<Option<ReadAhead<UserStore>>> {
    users::check_name(name)?;
    let path = ctx.users_path()?;
    match ahead.or_else(|| store::read_ahead(path)) {
        Some(a) => {
            a.doc().require(path, name)?;
            Ok(Some(a))
        }
        // Unreadable or changing while read: the plain check reports it.
        None => require_existing(ctx, name).map(|_| None),
    }
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
    // Before prompting, fail fast rather than ask for a password in vain; scripts skip this
    // extra read of the file (the check under the lock is the one that counts).
    let prompts = args.hash.is_none() && !args.password.password_stdin;
    if prompts && load(ctx)?.contains(&args.name) {
        return Err(Error::UserExists(args.name.clone()));
    }
    // bcrypt runs outside the lock, so concurrent adds do not queue behind each other's hashing.
    let (hashed_password, ahead) = match &args.hash {
        Some(h) => (h.clone(), None),
        None => hash_reading_ahead(
            ctx,
            &passwords::read(&args.password, Ask::Confirm)?,
            args.cost,
        )?,
    };
    let user = User {
        username: args.name.clone(),
        full_name: args.full_name.clone(),
        email: args.email.clone(),
        hashed_password,
        disabled: false,
        created_at: ctx.now,
        password_changed_at: ctx.now,
    };
    let path = ctx.users_path()?;
    store::update_with(path, ctx.lock_timeout, ahead, |s: &mut UserStore| {
        if s.contains(&user.username) {
            return Err(Error::UserExists(user.username.clone()));
        }
        s.put(&user)
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
    let all = load(ctx)?.all(ctx.users_path()?)?;
    if ctx.json {
        let records: Vec<Record> = all.iter().map(|u| Record::new(u, args.with_hash)).collect();
        return output::json(&json!({ "users": records }));
    }
    if all.is_empty() {
        ctx.info(format!("no users in {}", ctx.users_path()?.display()));
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
                u.full_name
                    .as_deref()
                    .map_or_else(|| "-".into(), output::printable),
                u.email
                    .as_deref()
                    .map_or_else(|| "-".into(), output::printable),
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

fn show(args: &UserShowArgs, ctx: &Ctx) -> Result<()> {
    let u = require_existing(ctx, &args.name)?;
    if ctx.json {
        return output::json(&Record::new(&u, args.with_hash));
    }
    let mut s = format!(
        "username             {}\nfull_name            {}\nemail                {}\ndisabled             {}\ncreated_at           {}\npassword_changed_at  {}",
        output::printable(&u.username),
        u.full_name
            .as_deref()
            .map_or_else(|| "-".into(), output::printable),
        u.email
            .as_deref()
            .map_or_else(|| "-".into(), output::printable),
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

/// Applies `change` to an existing user under the lock; `UserNotFound` if it is gone.
fn modify(
    ctx: &Ctx,
    name: &str,
    ahead: Option<ReadAhead<UserStore>>,
    change: impl FnOnce(&mut User),
) -> Result<()> {
    let path = ctx.users_path()?;
    store::update_with(path, ctx.lock_timeout, ahead, |s: &mut UserStore| {
        let mut u = s.require(path, name)?;
        change(&mut u);
        s.put(&u)
    })
}

/// bcrypt-hashes `password` while a second thread reads the users file ahead of the update
/// that follows, so even a file of 100,000 users costs little beyond the hashing itself.
fn hash_reading_ahead(
    ctx: &Ctx,
    password: &passwords::Password,
    cost: u32,
) -> Result<(String, Option<ReadAhead<UserStore>>)> {
    let path = ctx.users_path()?;
    std::thread::scope(|s| {
        let ahead = s.spawn(|| store::read_ahead::<UserStore>(path));
        let hash = passwords::hash(password, cost);
        let ahead = ahead.join().ok().flatten();
        hash.map(|h| (h, ahead))
    })
}

fn passwd(args: &UserPasswdArgs, ctx: &Ctx) -> Result<()> {
    // As in `add`: only a prompt is worth an early check; the one under the lock counts.
    if args.password.password_stdin {
        users::check_name(&args.name)?;
    } else {
        require_existing(ctx, &args.name)?;
    }
    let password = passwords::read(&args.password, Ask::Confirm)?;
    let (hash, ahead) = hash_reading_ahead(ctx, &password, args.cost)?;
    drop(password);
    // Nothing is revoked for a user that does not exist or whose record is unreadable.
    let ahead = read_existing(ctx, &args.name, ahead)?;
    // Revoke first: a crash in between leaves the old password with no live tokens, never
    // the new password with the old tokens still accepted.
    revocations::revoke_subject(ctx, &args.name)?;
    modify(ctx, &args.name, ahead, |u| {
        u.hashed_password = hash;
        u.password_changed_at = ctx.now;
    })?;
    ctx.info(format!(
        "changed the password of {}; their earlier tokens are revoked",
        args.name
    ));
    Ok(())
}

fn set_disabled(args: &UserNameArg, disabled: bool, ctx: &Ctx) -> Result<()> {
    let ahead = read_existing(ctx, &args.name, None)?;
    // Nothing to do: say so rather than report a change that did not happen.
    let path = ctx.users_path()?;
    let already = match &ahead {
        Some(a) => a.doc().require(path, &args.name)?.disabled == disabled,
        None => require_existing(ctx, &args.name)?.disabled == disabled,
    };
    if already {
        ctx.info(format!(
            "user {} is already {}; nothing changed",
            args.name,
            if disabled { "disabled" } else { "enabled" }
        ));
        return Ok(());
    }
    if disabled {
        revocations::revoke_subject(ctx, &args.name)?;
    }
    modify(ctx, &args.name, ahead, |u| u.disabled = disabled)?;
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
    let ahead = read_existing(ctx, &args.name, None)?;
    revocations::revoke_subject(ctx, &args.name)?;
    let path = ctx.users_path()?;
    store::update_with(path, ctx.lock_timeout, ahead, |s: &mut UserStore| {
        if s.remove(&args.name) {
            Ok(())
        } else {
            Err(Error::UserNotFound(args.name.clone()))
        }
    })?;
    ctx.info(format!("removed user {} (tokens revoked)", args.name));
    Ok(())
}
