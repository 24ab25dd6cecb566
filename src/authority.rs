//! The core application layer: the one place the use cases live for every front end. An
//! [`Authority`] owns the stores (users, revocations), the signing key (with its ring), the
//! clock and the policy (hashing, token lifetime, issuer, audience), and offers the use
//! cases: [`Authority::login`] (check → re-check the record → sign, SPEC §15) and
//! [`Authority::mint`]. It returns data and typed errors; it never prints, exits or speaks
//! HTTP. `jwtauth login`/`mint` and `serve`'s `POST /token` and `POST /login` each make one
//! call into it and render the answer.
//!
//! The command line opens a store or the key only when a use case needs it (a `mint` never
//! opens the users store, a refused `login` creates no key): each is a [`Slot`], opened on
//! first use; `serve` fills every slot at start.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::auth::{self, HashPolicy, Rehash};
use crate::clock::Clock;
use crate::error::{Error, Reason, Result};
use crate::keys::{self, Key};
use crate::passwords::Password;
use crate::sessions::{Client, Session};
use crate::store::{Imported, RevocationStore, UserStore};
use crate::tokens;
use crate::users::User;
use crate::verifier::{Scratch, Verified, Verifier};
use zeroize::Zeroizing;

/// Something the authority needs, ready or opened on first use.
pub struct Slot<'a, T> {
    cell: OnceLock<T>,
    open: Option<Box<dyn Fn() -> Result<T> + Send + Sync + 'a>>,
}

impl<'a, T> Slot<'a, T> {
    /// A slot holding `value`.
    pub fn ready(value: T) -> Self {
        Slot {
            cell: OnceLock::from(value),
            open: None,
        }
    }

    /// A slot filled by `open` when first asked for (and asked again after a failure).
    pub fn lazy(open: impl Fn() -> Result<T> + Send + Sync + 'a) -> Self {
        Slot {
            cell: OnceLock::new(),
            open: Some(Box::new(open)),
        }
    }

    /// The value, opened now if it was not yet.
    ///
    /// # Errors
    /// What opening it failed with.
    pub fn get(&self) -> Result<&T> {
        if let Some(v) = self.cell.get() {
            return Ok(v);
        }
        let Some(open) = &self.open else {
            return Err(Error::internal("authority", "nothing to open"));
        };
        let v = open()?;
        Ok(self.cell.get_or_init(|| v))
    }
}

/// What the authority signs with and checks against (SPEC §6, §8, §11, §12).
#[derive(Debug, Clone)]
pub struct Policy {
    /// How passwords are checked and rehashed.
    pub hashing: HashPolicy,
    /// The lifetime of a login token unless the request names one, in seconds.
    pub ttl: i64,
    /// The configured `ttl`: a token that lives longer is recorded in the key ring, so that a
    /// rotation keeps its key until it has expired.
    pub configured_ttl: i64,
    /// The `iss` of login tokens unless the request names one.
    pub issuer: Option<String>,
    /// The `aud` of login tokens unless the request names one.
    pub audience: Option<String>,
    /// How long to wait for the key ring's lock.
    pub lock_timeout: Duration,
}

/// A login: who, with what password, and what the front end asks of the token beyond the
/// policy.
pub struct LoginRequest<'r> {
    /// The user name (in NFC).
    pub name: &'r str,
    /// The password.
    pub password: &'r Password,
    /// The token's lifetime, when not the policy's.
    pub ttl: Option<i64>,
    /// The token's `iss`, when not the policy's.
    pub iss: Option<String>,
    /// The token's `aud`, when not the policy's.
    pub aud: Option<Value>,
    /// Further claims (never `sub` or `groups`: the front end refuses those).
    pub extra: Map<String, Value>,
    /// Sign with a key shorter than its algorithm needs.
    pub allow_weak_key: bool,
    /// Where the sign-in comes from (recorded in its session, SPEC §13).
    pub client: Client,
    /// A browser sign-in (`POST /login`): the cookie's token lives to the session's absolute
    /// end, and no refresh token is made.
    pub browser: bool,
}

/// A token to sign without a password check (`mint`): the claims as the front end resolved
/// them; the authority fills in the times and the `jti` it was not given.
#[derive(Default)]
pub struct MintRequest {
    /// The subject.
    pub sub: String,
    /// `iat`, else now (never a revoked second).
    pub iat: Option<i64>,
    /// `exp`, else `iat` + `ttl`.
    pub exp: Option<i64>,
    /// The lifetime when `exp` is not given, else the policy's.
    pub ttl: Option<i64>,
    /// `nbf`, if any.
    pub nbf: Option<i64>,
    /// `jti`, else a random one.
    pub jti: Option<Value>,
    /// `iss`, if any.
    pub iss: Option<Value>,
    /// `aud`, if any.
    pub aud: Option<Value>,
    /// Further claims, after the registered ones (a registered claim set above wins).
    pub base: Map<String, Value>,
    /// Claims that replace anything of the same name (`mint --claim`).
    pub extra: Map<String, Value>,
    /// Extra header fields.
    pub header: Map<String, Value>,
    /// The algorithm, when not the key's.
    pub alg: Option<Algorithm>,
    /// Sign with a key shorter than its algorithm needs.
    pub allow_weak_key: bool,
}

/// A signed token.
#[derive(Debug)]
pub struct Issued {
    /// The compact JWT.
    pub token: String,
    /// Its `iat`.
    pub iat: i64,
    /// Its `exp`.
    pub exp: i64,
    /// Its claims.
    pub claims: Map<String, Value>,
    /// The user's record as signed (a login), re-read after the password check.
    pub user: Option<User>,
    /// What became of the stored hash (a login).
    pub rehash: Option<Rehash>,
    /// The token outlives the configured ttl and could not be recorded in the key ring: a
    /// warning for the front end (a rotation then needs `--keep`).
    pub ttl_not_noted: Option<Error>,
    /// The session the token belongs to (a login or a refresh; `None` for `mint`).
    pub sid: Option<String>,
    /// The new refresh token (a login but a browser one, or a refresh). Never stored.
    pub refresh_token: Option<Zeroizing<String>>,
}

/// A live session as listed (`sessions list`, `GET /sessions`, the account page).
#[derive(Debug, Clone)]
pub struct Listed {
    /// The stored record.
    pub session: Session,
    /// Its last use as known to this process (a server's uses not yet written count).
    pub last_used_at: i64,
    /// When it ends if not used again: the earlier of its two limits.
    pub expires_at: i64,
}

/// The use cases over the stores, the key, the clock and the policy.
pub struct Authority<'a> {
    users: Slot<'a, Arc<dyn UserStore>>,
    revocations: Slot<'a, Arc<dyn RevocationStore>>,
    key: Slot<'a, Arc<Key>>,
    clock: &'a dyn Clock,
    policy: Policy,
    /// The longest lifetime already recorded in the key ring this process (0: none), so a
    /// long-running server reads the ring once, not per login.
    noted: AtomicI64,
}

impl<'a> Authority<'a> {
    /// An authority over these stores, key, clock and policy.
    pub fn new(
        users: Slot<'a, Arc<dyn UserStore>>,
        revocations: Slot<'a, Arc<dyn RevocationStore>>,
        key: Slot<'a, Arc<Key>>,
        clock: &'a dyn Clock,
        policy: Policy,
    ) -> Self {
        Authority {
            users,
            revocations,
            key,
            clock,
            policy,
            noted: AtomicI64::new(0),
        }
    }

    /// The same authority, told that the key ring already records lifetimes up to `lifetime`
    /// for this key (`serve` records its longest on every key load): logins up to it read
    /// no ring.
    pub fn ring_notes(self, lifetime: i64) -> Self {
        self.noted.fetch_max(lifetime, Ordering::Relaxed);
        self
    }

    /// The users store (for reads: listings, `/userinfo`).
    ///
    /// # Errors
    /// What opening it failed with.
    pub fn users(&self) -> Result<&dyn UserStore> {
        Ok(self.users.get()?.as_ref())
    }

    /// The revocation store (for reads and verification).
    ///
    /// # Errors
    /// What opening it failed with.
    pub fn revocations(&self) -> Result<&dyn RevocationStore> {
        Ok(self.revocations.get()?.as_ref())
    }

    /// The signing key.
    ///
    /// # Errors
    /// What loading it failed with.
    pub fn key(&self) -> Result<&Key> {
        Ok(self.key.get()?.as_ref())
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Logs `req.name` in: the password check ([`auth::authenticate`]), then the record read
    /// again (SPEC §15 "Logins over HTTP": the check is slow, and the user may have been
    /// disabled, removed or given a new password meanwhile: each is a `LoginRefused`), then a
    /// token signed with the claims of the record as re-read (its groups as of signing).
    ///
    /// # Errors
    /// `LoginRefused`, a store error, or a key error.
    pub fn login(&self, req: &LoginRequest<'_>) -> Result<Issued> {
        let users = self.users()?;
        let logged_in = auth::authenticate(users, req.name, req.password, &self.policy.hashing)?;
        let user = recheck(users, &logged_in.user)?;
        let iat = auth::issue_time(self.revocations()?, &user.username, self.clock)?;
        let exp = iat + req.ttl.unwrap_or(self.policy.ttl);
        let mut claims = Map::new();
        claims.insert("sub".into(), user.username.clone().into());
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), exp.into());
        claims.insert("jti".into(), tokens::new_jti()?.into());
        if let Some(iss) = req.iss.clone().or_else(|| self.policy.issuer.clone()) {
            claims.insert("iss".into(), iss.into());
        }
        if let Some(aud) = req
            .aud
            .clone()
            .or_else(|| self.policy.audience.clone().map(Value::String))
        {
            claims.insert("aud".into(), aud);
        }
        claims.extend(req.extra.clone());
        claims.extend(auth::user_claims(&user));
        let key = self.key()?;
        let token = tokens::sign(key, key.alg, &claims, req.allow_weak_key)?;
        let ttl_not_noted = self.note_ttl(key, exp - iat);
        Ok(Issued {
            token,
            iat,
            exp,
            claims,
            user: Some(user),
            rehash: Some(logged_in.rehash),
            ttl_not_noted,
            sid: None,
            refresh_token: None,
        })
    }

    /// Signs a token for `req.sub` with no password check (`mint`): `iat` is the one given,
    /// else now (the next second when the subject was revoked in this one); `exp` the one
    /// given, else `iat` + the lifetime.
    ///
    /// # Errors
    /// A key error (none, or too weak for the algorithm), or a store error.
    pub fn mint(&self, req: MintRequest) -> Result<Issued> {
        let key = self.key()?;
        let alg = req.alg.unwrap_or(key.alg);
        key.encoding(alg, req.allow_weak_key)?;
        let iat = match req.iat {
            Some(t) => t,
            None => auth::issue_time(self.revocations()?, &req.sub, self.clock)?,
        };
        let exp = req
            .exp
            .unwrap_or(iat + req.ttl.unwrap_or(self.policy.configured_ttl));
        let mut claims = Map::new();
        claims.insert("sub".into(), req.sub.into());
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), exp.into());
        if let Some(nbf) = req.nbf {
            claims.insert("nbf".into(), nbf.into());
        }
        let jti = match req.jti {
            Some(jti) => jti,
            None => tokens::new_jti()?.into(),
        };
        claims.insert("jti".into(), jti);
        if let Some(iss) = req.iss {
            claims.insert("iss".into(), iss);
        }
        if let Some(aud) = req.aud {
            claims.insert("aud".into(), aud);
        }
        for (k, v) in req.base {
            if !claims.contains_key(&k) {
                claims.insert(k, v);
            }
        }
        claims.extend(req.extra);
        let token = tokens::sign_with_header(key, alg, &req.header, &claims, req.allow_weak_key)?;
        let ttl_not_noted = self.note_ttl(key, exp - iat);
        Ok(Issued {
            token,
            iat,
            exp,
            claims,
            user: None,
            rehash: None,
            ttl_not_noted,
            sid: None,
            refresh_token: None,
        })
    }

    /// Checks a token now: signature, claims by `verifier`'s rules, and the revocations as
    /// they are now (the store is refreshed first). The verifier and its scratch are the
    /// caller's, built once and reused (a stream, a server's threads): nothing is allocated
    /// here beyond what `Verifier::verify` does.
    ///
    /// # Errors
    /// The token's error (`Error::Token`), or a store error.
    pub fn check(
        &self,
        verifier: &Verifier,
        scratch: &mut Scratch,
        token: &[u8],
        claims_out: Option<&mut Value>,
    ) -> Result<Verified> {
        let revocations = self.revocations()?;
        revocations.refresh()?;
        verifier.verify(
            token,
            self.clock.now(),
            scratch,
            Some(revocations),
            claims_out,
        )
    }

    /// Ends a token that was checked (with the revoking rules: any audience): its `jti` is
    /// revoked until its `exp`, durably before this returns. Returns the `jti` and `exp`.
    ///
    /// # Errors
    /// [`Reason::NoJti`] as a token error when it has no `jti` (or no `exp`), or a store error.
    pub fn end(&self, checked: &Verified) -> Result<(String, i64)> {
        let (Some(jti), Some(exp)) = (&checked.jti, checked.exp) else {
            return Err(Reason::NoJti.into());
        };
        self.revocations()?
            .revoke_token(jti, exp, self.clock.now())?;
        Ok((jti.clone(), exp))
    }

    // SESSIONS-TODO: the session use cases (SPEC §13). Signatures are the contract for the
    // front ends; bodies are built in the core branch.

    /// Spends `refresh_token` and issues what its session's sign-in issued, with the user's
    /// current groups and a new refresh token (SPEC §13). No password check.
    ///
    /// # Errors
    /// `Error::Grant` (expired: exit 3; ended, spent or reused: 4; not one of this store: 1),
    /// a store error, or a key error.
    pub fn refresh(&self, refresh_token: &str) -> Result<Issued> {
        let _ = refresh_token;
        Err(Error::internal("sessions", "not built yet"))
    }

    /// The live sessions (of `sub` only, when given), newest first.
    ///
    /// # Errors
    /// A store error.
    pub fn sessions(&self, sub: Option<&str>) -> Result<Vec<Listed>> {
        let _ = sub;
        Err(Error::internal("sessions", "not built yet"))
    }

    /// Ends the sessions `sids` (`sessions revoke`). With `owner`, only sessions of that user
    /// (`DELETE /sessions/{sid}`): another's is as unknown.
    ///
    /// # Errors
    /// `SessionNotFound` for a sid that is not a live session (of `owner`), before anything
    /// is ended; a store error.
    pub fn end_sessions(&self, sids: &[&str], owner: Option<&str>) -> Result<Vec<String>> {
        let _ = (sids, owner);
        Err(Error::internal("sessions", "not built yet"))
    }

    /// Ends every live session of `sub` but `keep` ("sign out everywhere else",
    /// `sessions revoke --user`). Returns the sids ended.
    ///
    /// # Errors
    /// A store error.
    pub fn end_user_sessions(&self, sub: &str, keep: Option<&str>) -> Result<Vec<String>> {
        let _ = (sub, keep);
        Err(Error::internal("sessions", "not built yet"))
    }

    /// Writes the uses `serve`'s checks held in memory (called about once a minute, off the
    /// request path).
    ///
    /// # Errors
    /// A store error (the uses are kept for the next write).
    pub fn write_uses(&self) -> Result<()> {
        Err(Error::internal("sessions", "not built yet"))
    }

    /// Ends the session `refresh_token` names (`POST /revoke` of a refresh token, RFC 7009),
    /// whichever generation it is. Returns the sid and user of the session ended, `None` when
    /// it had ended already.
    ///
    /// # Errors
    /// `Error::Grant(Grant::Unknown)` when it is not a refresh token of this store; a store
    /// error.
    pub fn end_refresh(&self, refresh_token: &str) -> Result<Option<(String, String)>> {
        let _ = refresh_token;
        Err(Error::internal("sessions", "not built yet"))
    }

    /// Logs a token out: [`Authority::check`] (with `verifier`, which should accept any
    /// audience: revoking is not granting), then [`Authority::end`].
    ///
    /// # Errors
    /// As those.
    pub fn logout(
        &self,
        verifier: &Verifier,
        scratch: &mut Scratch,
        token: &[u8],
    ) -> Result<(String, i64)> {
        let checked = self.check(verifier, scratch, token, None)?;
        self.end(&checked)
    }

    /// Ends every token of `sub` issued up to now; with `must_be_user`, `sub` must be a user
    /// (a mistyped name would revoke nothing anyone holds and look like success). Returns the
    /// time the tokens are revoked up to.
    ///
    /// # Errors
    /// `UserNotFound` when `must_be_user` and there is no such user, or a store error.
    pub fn logout_all(&self, sub: &str, must_be_user: bool) -> Result<i64> {
        if must_be_user && !self.users()?.exists(sub)? {
            return Err(Error::UserNotFound(sub.to_string()));
        }
        let now = self.clock.now();
        self.revocations()?.revoke_subject(sub, now, now)?;
        Ok(now)
    }

    /// Drops the revocations whose tokens have expired by now; how many were dropped.
    ///
    /// # Errors
    /// A store error.
    pub fn prune(&self) -> Result<usize> {
        self.revocations()?.prune(self.clock.now())
    }

    // ----- account changes: revoke first, then write ------------------------------------------
    //
    // A change that takes something away (a password, the right to log in, a group, the
    // account) revokes the user's earlier tokens *before* the record is written: a crash in
    // between leaves the old record with no live tokens, never the new record with the old
    // tokens still accepted.

    /// Adds a user (`make` builds the record, outside the store's lock: it may hash).
    ///
    /// # Errors
    /// `UserExists`, `UserConfusable`, or a store error.
    pub fn add_user(&self, name: &str, make: &mut dyn FnMut() -> Result<User>) -> Result<User> {
        self.users()?.add(name, make)
    }

    /// The record of `name`, which must exist.
    fn existing(&self, name: &str) -> Result<User> {
        self.users()?
            .get(name)?
            .ok_or_else(|| Error::UserNotFound(name.to_string()))
    }

    /// Revokes every token of `name` issued up to now.
    fn revoke(&self, name: &str) -> Result<()> {
        let now = self.clock.now();
        self.revocations()?.revoke_subject(name, now, now)
    }

    /// Gives `name` a new password hash (and whatever else `also` changes): the user's tokens
    /// are revoked first; `password_changed_at` is now, or one second past the last change
    /// when that was this second too: every change gets a new stamp, so a login whose
    /// password check overlapped it sees the change at its re-check ([`Authority::login`]).
    ///
    /// # Errors
    /// `UserNotFound` (nothing revoked), or a store error.
    pub fn change_password(
        &self,
        name: &str,
        hash: &str,
        also: &mut dyn FnMut(&mut User),
    ) -> Result<User> {
        self.existing(name)?;
        self.revoke(name)?;
        let now = self.clock.now();
        self.users()?.update(name, &mut |u| {
            u.hashed_password = hash.to_string();
            u.password_changed_at = now.max(u.password_changed_at.saturating_add(1));
            also(u);
            Ok(())
        })
    }

    /// Disables (tokens revoked first) or enables `name`.
    ///
    /// # Errors
    /// `UserNotFound` (nothing revoked), or a store error.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> Result<User> {
        self.existing(name)?;
        if disabled {
            self.revoke(name)?;
        }
        self.users()?.update(name, &mut |u| {
            u.disabled = disabled;
            Ok(())
        })
    }

    /// Removes `name`, its tokens revoked first.
    ///
    /// # Errors
    /// `UserNotFound` (nothing revoked), or a store error.
    pub fn remove_user(&self, name: &str) -> Result<User> {
        self.existing(name)?;
        self.revoke(name)?;
        self.users()?.remove(name)
    }

    /// Edits `name`'s record with `edit` (applied under the store's lock, to the record as it
    /// is then). A token names the groups it was issued with: when the edit takes a group
    /// away, the user's tokens are revoked first. Returns the record and whether tokens were
    /// revoked.
    ///
    /// # Errors
    /// `UserNotFound` (nothing revoked), or a store error.
    pub fn edit_user(&self, name: &str, edit: &mut dyn FnMut(&mut User)) -> Result<(User, bool)> {
        let before = self.existing(name)?;
        let mut after = before.clone();
        edit(&mut after);
        let revoke = before.groups.iter().any(|g| !after.groups.contains(g));
        if revoke {
            self.revoke(name)?;
        }
        let user = self.users()?.update(name, &mut |u| {
            edit(u);
            Ok(())
        })?;
        Ok((user, revoke))
    }

    /// Imports `incoming`; with `replace`, existing users are replaced, and those whose hash
    /// changes or who become disabled have their tokens revoked first.
    ///
    /// # Errors
    /// A store error.
    pub fn import_users(&self, incoming: Vec<User>, replace: bool) -> Result<Imported> {
        let users = self.users()?;
        if replace {
            let current: BTreeMap<String, User> = users
                .list()?
                .into_iter()
                .map(|u| (u.username.clone(), u))
                .collect();
            let changing: Vec<&str> = incoming
                .iter()
                .filter(|new| {
                    current.get(&new.username).is_some_and(|u| {
                        u.hashed_password != new.hashed_password || (new.disabled && !u.disabled)
                    })
                })
                .map(|new| new.username.as_str())
                .collect();
            if !changing.is_empty() {
                let now = self.clock.now();
                self.revocations()?.revoke_subjects(&changing, now, now)?;
            }
        }
        users.import(incoming, replace)
    }

    /// Records a lifetime over the configured ttl in the key ring ([`keys::note_ttl`]), for
    /// every front end; what could not be recorded is returned as a warning.
    fn note_ttl(&self, key: &Key, lifetime: i64) -> Option<Error> {
        if lifetime <= self.policy.configured_ttl || lifetime <= self.noted.load(Ordering::Relaxed)
        {
            return None;
        }
        match keys::note_ttl(
            self.policy.lock_timeout,
            key,
            lifetime,
            self.policy.configured_ttl,
            self.clock.now(),
        ) {
            Ok(()) => {
                self.noted.fetch_max(lifetime, Ordering::Relaxed);
                None
            }
            Err(e) => Some(e),
        }
    }
}

/// The record of `checked` read again after its password check: it must still exist, be
/// enabled and have the same `password_changed_at` (not the same hash text, which a
/// concurrent rehash may change); else the login is refused. The record returned is the new
/// one (its groups as of now).
fn recheck(users: &dyn UserStore, checked: &User) -> Result<User> {
    match users.get(&checked.username)? {
        Some(now) if !now.disabled && now.password_changed_at == checked.password_changed_at => {
            Ok(now)
        }
        _ => Err(Error::LoginRefused),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use zeroize::Zeroizing;

    use super::*;
    use crate::clock::FixedClock;
    use crate::passwords::{self, Argon2Params, Scheme};
    use crate::store::RevocationStore;
    use crate::store::memory::MemoryRevocations;
    use crate::store::revocations_file::Revocations;

    const SMALL: Scheme = Scheme::Argon2id(Argon2Params {
        memory_kib: 64,
        time: 1,
        lanes: 1,
    });

    /// A users store whose first `get` answers `first` and every later one `later`: the
    /// record changed while the password was being checked.
    struct Changing {
        first: User,
        later: Option<User>,
        gets: AtomicUsize,
        writes: Mutex<usize>,
    }

    impl UserStore for Changing {
        fn get(&self, _: &str) -> Result<Option<User>> {
            Ok(if self.gets.fetch_add(1, Ordering::SeqCst) == 0 {
                Some(self.first.clone())
            } else {
                self.later.clone()
            })
        }
        fn exists(&self, _: &str) -> Result<bool> {
            Ok(true)
        }
        fn add(&self, _: &str, _: &mut dyn FnMut() -> Result<User>) -> Result<User> {
            unreachable!("a login adds no user")
        }
        fn update(&self, _: &str, _: &mut dyn FnMut(&mut User) -> Result<()>) -> Result<User> {
            *self.writes.lock().unwrap() += 1;
            Ok(self.first.clone())
        }
        fn remove(&self, _: &str) -> Result<User> {
            unreachable!("a login removes no user")
        }
        fn list(&self) -> Result<Vec<User>> {
            Ok(vec![self.first.clone()])
        }
        fn import(&self, _: Vec<User>, _: bool) -> Result<Imported> {
            unreachable!("a login imports nothing")
        }
        fn typical_scheme(&self) -> Result<Option<Scheme>> {
            Ok(Some(SMALL))
        }
        fn location(&self) -> String {
            "test".into()
        }
    }

    fn pw(s: &str) -> Password {
        Password::new(Zeroizing::new(s.as_bytes().to_vec())).unwrap()
    }

    fn alice(pw: &Password) -> User {
        User {
            username: "alice".into(),
            full_name: None,
            email: None,
            hashed_password: passwords::hash(pw, &SMALL).unwrap(),
            disabled: false,
            created_at: 1,
            password_changed_at: 1,
            groups: vec!["admins".into()],
        }
    }

    fn authority<'a>(
        clock: &'a FixedClock,
        later: impl FnOnce(&mut User) -> bool,
    ) -> Authority<'a> {
        let password = pw("right-password");
        let first = alice(&password);
        let mut changed = first.clone();
        let later = later(&mut changed).then_some(changed);
        let users: Arc<dyn UserStore> = Arc::new(Changing {
            first,
            later,
            gets: AtomicUsize::new(0),
            writes: Mutex::new(0),
        });
        let revocations: Arc<dyn RevocationStore> =
            Arc::new(MemoryRevocations::new(Revocations::default()));
        let key = Arc::new(Key::hmac_for_tests(b"0123456789abcdef0123456789abcdef"));
        Authority::new(
            Slot::ready(users),
            Slot::ready(revocations),
            Slot::ready(key),
            clock,
            Policy {
                hashing: HashPolicy {
                    scheme: SMALL,
                    rehash_on_login: false,
                    allow_legacy: false,
                    read_only: false,
                },
                ttl: 900,
                configured_ttl: 900,
                issuer: None,
                audience: None,
                lock_timeout: Duration::from_secs(1),
            },
        )
    }

    fn login(a: &Authority<'_>) -> Result<Issued> {
        let password = pw("right-password");
        a.login(&LoginRequest {
            name: "alice",
            password: &password,
            ttl: None,
            iss: None,
            aud: None,
            extra: Map::new(),
            allow_weak_key: false,
            client: crate::sessions::Client::Cli,
            browser: false,
        })
    }

    #[test]
    fn an_unchanged_record_is_signed() {
        let clock = FixedClock::new(1_000_000);
        let issued = login(&authority(&clock, |_| true)).unwrap();
        assert_eq!(issued.claims["sub"], "alice");
        assert_eq!(issued.claims["groups"], serde_json::json!(["admins"]));
        assert_eq!(issued.iat, 1_000_000);
    }

    #[test]
    fn a_user_disabled_removed_or_repassworded_during_the_check_gets_no_token() {
        let clock = FixedClock::new(1_000_000);
        for (what, change) in [
            (
                "disabled",
                (|u: &mut User| {
                    u.disabled = true;
                    true
                }) as fn(&mut User) -> bool,
            ),
            ("removed", |_: &mut User| false),
            ("new password", |u: &mut User| {
                u.password_changed_at += 1;
                true
            }),
        ] {
            let out = login(&authority(&clock, change));
            assert!(matches!(out, Err(Error::LoginRefused)), "{what}: {out:?}");
        }
    }

    #[test]
    fn password_changes_in_one_second_get_stamps_a_login_can_tell_apart() {
        // A login checks the password against the record stamped at 1_000_000; a `passwd`
        // in that same second must still change the stamp the re-check compares.
        let clock = FixedClock::new(1_000_000);
        let users: Arc<dyn UserStore> = Arc::new(crate::store::memory::MemoryUsers::new());
        let mut first = alice(&pw("right-password"));
        first.password_changed_at = 1_000_000;
        users.add("alice", &mut || Ok(first.clone())).unwrap();
        let a = Authority::new(
            Slot::ready(users),
            Slot::ready(Arc::new(MemoryRevocations::new(Revocations::default())) as Arc<_>),
            Slot::lazy(|| Err(Error::config("key", "none in this test"))),
            &clock,
            authority(&clock, |_| true).policy().clone(),
        );
        let once = a.change_password("alice", "$2b$04$x", &mut |_| {}).unwrap();
        let twice = a.change_password("alice", "$2b$04$y", &mut |_| {}).unwrap();
        assert_eq!(once.password_changed_at, 1_000_001);
        assert_eq!(twice.password_changed_at, 1_000_002);
        // A later change is stamped with its own time.
        clock.sleep_until(2_000_000);
        let later = a.change_password("alice", "$2b$04$z", &mut |_| {}).unwrap();
        assert_eq!(later.password_changed_at, 2_000_000);
    }

    #[test]
    fn the_groups_are_those_of_the_record_as_re_read() {
        let clock = FixedClock::new(1_000_000);
        let issued = login(&authority(&clock, |u| {
            u.groups.clear();
            true
        }))
        .unwrap();
        assert!(!issued.claims.contains_key("groups"), "{:?}", issued.claims);
        // A rehash changes the hash text, not password_changed_at: still signed.
        let issued = login(&authority(&clock, |u| {
            u.hashed_password =
                "$2b$04$changedbyarehashxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".into();
            true
        }))
        .unwrap();
        assert_eq!(issued.claims["sub"], "alice");
    }

    #[test]
    fn a_subject_revoked_this_second_waits_on_the_clock_for_the_next() {
        let clock = FixedClock::new(1_000_000);
        let a = authority(&clock, |_| true);
        a.revocations()
            .unwrap()
            .revoke_subject("alice", 1_000_000, 1_000_000)
            .unwrap();
        let issued = login(&a).unwrap();
        assert_eq!(issued.iat, 1_000_001);
        assert_eq!(clock.now(), 1_000_001);
    }

    /// A users store of one user whose writes record whether the user's tokens were
    /// already revoked when the write came.
    struct Watched {
        user: Mutex<User>,
        revocations: Arc<dyn RevocationStore>,
        revoked_before_write: Mutex<Vec<bool>>,
    }

    impl Watched {
        fn wrote(&self) {
            let revoked = self
                .revocations
                .subject_revoked_at("alice")
                .unwrap()
                .is_some();
            self.revoked_before_write.lock().unwrap().push(revoked);
        }
    }

    impl UserStore for Watched {
        fn get(&self, _: &str) -> Result<Option<User>> {
            Ok(Some(self.user.lock().unwrap().clone()))
        }
        fn exists(&self, _: &str) -> Result<bool> {
            Ok(true)
        }
        fn add(&self, name: &str, _: &mut dyn FnMut() -> Result<User>) -> Result<User> {
            Err(Error::UserExists(name.into()))
        }
        fn update(&self, _: &str, change: &mut dyn FnMut(&mut User) -> Result<()>) -> Result<User> {
            self.wrote();
            let mut u = self.user.lock().unwrap();
            change(&mut u)?;
            Ok(u.clone())
        }
        fn remove(&self, _: &str) -> Result<User> {
            self.wrote();
            Ok(self.user.lock().unwrap().clone())
        }
        fn list(&self) -> Result<Vec<User>> {
            Ok(vec![self.user.lock().unwrap().clone()])
        }
        fn import(&self, _: Vec<User>, _: bool) -> Result<Imported> {
            self.wrote();
            Ok(Imported::default())
        }
        fn typical_scheme(&self) -> Result<Option<Scheme>> {
            Ok(Some(SMALL))
        }
        fn location(&self) -> String {
            "test".into()
        }
    }

    /// Runs `change` on a fresh authority; whether alice's tokens were revoked before the
    /// write, and after it.
    fn revoked_around(change: impl FnOnce(&Authority<'_>)) -> (Vec<bool>, bool) {
        let clock = FixedClock::new(1_000_000);
        let revocations: Arc<dyn RevocationStore> =
            Arc::new(MemoryRevocations::new(Revocations::default()));
        let watched = Arc::new(Watched {
            user: Mutex::new(alice(&pw("right-password"))),
            revocations: revocations.clone(),
            revoked_before_write: Mutex::new(Vec::new()),
        });
        let users: Arc<dyn UserStore> = watched.clone();
        let a = Authority::new(
            Slot::ready(users),
            Slot::ready(revocations.clone()),
            Slot::lazy(|| Err(Error::config("key", "none in this test"))),
            &clock,
            authority(&clock, |_| true).policy().clone(),
        );
        change(&a);
        let before = watched.revoked_before_write.lock().unwrap().clone();
        let after = revocations.subject_revoked_at("alice").unwrap().is_some();
        (before, after)
    }

    #[test]
    fn account_changes_that_take_something_away_revoke_first_then_write() {
        type Change = fn(&Authority<'_>);
        let cases: [(&str, Change, bool); 7] = [
            (
                "passwd",
                |a| {
                    a.change_password("alice", "$2b$04$x", &mut |_| {}).unwrap();
                },
                true,
            ),
            (
                "disable",
                |a| {
                    a.set_disabled("alice", true).unwrap();
                },
                true,
            ),
            (
                "enable",
                |a| {
                    a.set_disabled("alice", false).unwrap();
                },
                false,
            ),
            (
                "remove",
                |a| {
                    a.remove_user("alice").unwrap();
                },
                true,
            ),
            (
                "remove a group",
                |a| {
                    let (_, revoked) = a.edit_user("alice", &mut |u| u.groups.clear()).unwrap();
                    assert!(revoked);
                },
                true,
            ),
            (
                "add a group",
                |a| {
                    let (_, revoked) = a
                        .edit_user("alice", &mut |u| u.groups.push("ops".into()))
                        .unwrap();
                    assert!(!revoked);
                },
                false,
            ),
            (
                "import --replace with a new hash",
                |a| {
                    let mut u = alice(&pw("another-password"));
                    u.hashed_password = "$2b$04$y".into();
                    a.import_users(vec![u], true).unwrap();
                },
                true,
            ),
        ];
        for (what, change, revokes) in cases {
            let (before, after) = revoked_around(change);
            assert_eq!(before, vec![revokes], "{what}: revoked before the write");
            assert_eq!(after, revokes, "{what}: revoked after");
        }
    }
}
