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
use crate::error::{Grant, Revoked, VerifyError};
use crate::keys::{self, Key};
use crate::passwords::Password;
use crate::refresh;
use crate::sessions::{Client, Issue, Limits, Over, Refresh, Rules, Session};
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
    /// The session rules (SPEC §13), shared with the revocation store.
    rules: Arc<Rules>,
}

/// A token logged out ([`Authority::logout_token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedOut {
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`.
    pub exp: i64,
    /// Its session, if it had one.
    pub sid: Option<String>,
    /// Its `sub`, if any (for the front end's log).
    pub sub: Option<String>,
    /// Its session had already ended (or expired) before: still a success, said so.
    pub already_ended: bool,
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
            rules: Arc::new(Rules::new(Limits::default(), false)),
        }
    }

    /// The same authority with the session rules `rules` (SPEC §13): the ones the revocation
    /// store was opened with, so both judge by the same limits and uses.
    pub fn with_rules(mut self, rules: Arc<Rules>) -> Self {
        self.rules = rules;
        self
    }

    /// The session rules.
    pub fn rules(&self) -> &Arc<Rules> {
        &self.rules
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
        let revocations = self.revocations()?;
        let iat = auth::issue_time(revocations, &user.username, self.clock)?;
        // What this sign-in issues, issued again by each refresh (SPEC §13).
        let mut claims = Map::new();
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
        let issue = Issue {
            ttl: req.ttl.unwrap_or(self.policy.ttl),
            claims,
            browser: req.browser,
        };
        let limits = self.rules.limits();
        let sid = new_sid()?;
        let key = self.key()?;
        let (token, exp, claims) = self.sign_in_session(
            key,
            &user,
            &sid,
            &issue,
            iat,
            iat,
            &limits,
            req.allow_weak_key,
        )?;
        let refresh_token = if req.browser {
            None
        } else {
            Some(refresh::make(key.refresh_key()?, &sid, 0)?)
        };
        let session = Session {
            sid: sid.clone(),
            sub: user.username.clone(),
            created_at: iat,
            last_used_at: iat,
            client: req.client.clone(),
            amr: vec!["pwd".into()],
            issue,
            refresh: refresh_token.as_ref().map(|t| Refresh {
                generation: 0,
                hash: refresh::hash(t),
                rotated_at: iat,
            }),
            tokens: [(jti_of(&claims), exp)].into_iter().collect(),
            ended_at: None,
        };
        // Durable before the token is handed out.
        revocations.begin_session(&session, &limits, self.clock.now())?;
        let ttl_not_noted = self.note_ttl(key, exp - iat);
        Ok(Issued {
            token,
            iat,
            exp,
            claims,
            user: Some(user),
            rehash: Some(logged_in.rehash),
            ttl_not_noted,
            sid: Some(sid),
            refresh_token,
        })
    }

    /// Signs a token of session `sid` for `user` at `iat`: the claims `issue` names, the
    /// user's current groups, a new `jti`; `exp` is `iat + ttl`, at most the session's
    /// absolute end and, unless a browser's, at most `iat + session_idle` (SPEC §13).
    #[allow(clippy::too_many_arguments)]
    fn sign_in_session(
        &self,
        key: &Key,
        user: &User,
        sid: &str,
        issue: &Issue,
        created_at: i64,
        iat: i64,
        limits: &Limits,
        allow_weak_key: bool,
    ) -> Result<(String, i64, Map<String, Value>)> {
        let end = limits.absolute_end(created_at);
        let exp = if issue.browser {
            end
        } else {
            iat.saturating_add(issue.ttl)
                .min(end)
                .min(iat.saturating_add(limits.idle))
        };
        let mut claims = Map::new();
        claims.insert("sub".into(), user.username.clone().into());
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), exp.into());
        claims.insert("jti".into(), tokens::new_jti()?.into());
        claims.insert("sid".into(), sid.into());
        for (k, v) in &issue.claims {
            if !claims.contains_key(k) {
                claims.insert(k.clone(), v.clone());
            }
        }
        claims.extend(auth::user_claims(user));
        let token = tokens::sign(key, key.alg, &claims, allow_weak_key)?;
        Ok((token, exp, claims))
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

    // ----- sessions (SPEC §13) ----------------------------------------------------------------

    /// Spends `refresh_token` and issues what its session's sign-in issued, with the user's
    /// current groups and a new refresh token (SPEC §13). No password check.
    ///
    /// # Errors
    /// `Error::Grant` (expired: exit 3; ended, spent or reused: 4; not one of this store: 1),
    /// a store error, or a key error.
    pub fn refresh(&self, refresh_token: &str) -> Result<Issued> {
        let Some(parsed) = refresh::parse(refresh_token) else {
            return Err(Error::Grant(Grant::Unknown));
        };
        let revocations = self.revocations()?;
        let Some(session) = revocations.session(&parsed.sid)? else {
            return Err(Error::Grant(Grant::Unknown));
        };
        let key = self.key()?;
        if !parsed.tag_ok(key.refresh_key()?) {
            return Err(Error::Grant(Grant::Unknown));
        }
        let now = self.clock.now();
        let limits = self.rules.limits();
        let Some(current) = session.refresh.clone() else {
            // A session without refresh tokens (a browser's) names no generation.
            return Err(Error::Grant(Grant::Unknown));
        };
        let (over, mark) = self.over_with_mark(&session, &limits, now)?;
        match over {
            Some(Over::Ended) => {
                if session.ended_at.is_none() {
                    revocations.end_sessions(&[&session.sid], now)?;
                }
                return Err(Error::Grant(Grant::Ended));
            }
            Some(_) => return Err(Error::Grant(Grant::Expired)),
            None => {}
        }
        if parsed.generation < current.generation {
            // Spent before: a reuse ends the session, but the one spent just before, within
            // the grace, is only refused (a retry after a lost answer, two tabs).
            let grace = parsed.generation + 1 == current.generation
                && limits.reuse_grace > 0
                && now.saturating_sub(current.rotated_at) <= limits.reuse_grace;
            if grace {
                return Err(Error::Grant(Grant::Ended));
            }
            revocations.end_sessions(&[&session.sid], now)?;
            return Err(Error::Grant(Grant::Reused));
        }
        if parsed.generation > current.generation || !refresh::matches(refresh_token, &current.hash)
        {
            // Never handed out (a lost race's token), or not the token of this generation.
            return Err(Error::Grant(Grant::Unknown));
        }
        // The user as now: a disabled or removed one gets nothing, and the session ends.
        let user = match self.users()?.get(&session.sub)? {
            Some(u) if !u.disabled => u,
            _ => {
                revocations.end_sessions(&[&session.sid], now)?;
                return Err(Error::Grant(Grant::Ended));
            }
        };
        // The mark as read above: one store call less per refresh (a revocation of the user
        // since then ends the session, so the compare-and-set below fails).
        let iat = auth::issue_time_after(mark, &user.username, self.clock)?;
        let (token, exp, claims) = self.sign_in_session(
            key,
            &user,
            &session.sid,
            &session.issue,
            session.created_at,
            iat,
            &limits,
            false,
        )?;
        let new_token = refresh::make(key.refresh_key()?, &session.sid, current.generation + 1)?;
        let mut next = session.clone();
        next.last_used_at = next.last_used_at.max(iat);
        next.refresh = Some(Refresh {
            generation: current.generation + 1,
            hash: refresh::hash(&new_token),
            rotated_at: now,
        });
        next.tokens.retain(|_, e| *e > now);
        next.tokens.insert(jti_of(&claims), exp);
        if !revocations.replace_session(&next, current.generation)? {
            // Someone else spent it first: this is a reuse.
            revocations.end_sessions(&[&session.sid], now)?;
            return Err(Error::Grant(Grant::Reused));
        }
        let ttl_not_noted = self.note_ttl(key, exp - iat);
        Ok(Issued {
            token,
            iat,
            exp,
            claims,
            user: Some(user),
            rehash: None,
            ttl_not_noted,
            sid: Some(session.sid),
            refresh_token: Some(new_token),
        })
    }

    /// Whether `session` is over at `now`: ended, past a limit (with this process's held
    /// use), or begun before its user's tokens were all revoked.
    fn over(&self, session: &Session, limits: &Limits, now: i64) -> Result<Option<Over>> {
        Ok(self.over_with_mark(session, limits, now)?.0)
    }

    /// [`Authority::over`], with the user's revocation mark as read (`None` when the session
    /// was over before it was needed).
    fn over_with_mark(
        &self,
        session: &Session,
        limits: &Limits,
        now: i64,
    ) -> Result<(Option<Over>, Option<i64>)> {
        let held = self.held_use(&session.sid);
        if let Some(over) = limits.over(Some(session.times()), held, now) {
            return Ok((Some(over), None));
        }
        let mark = self.revocations()?.subject_revoked_at(&session.sub)?;
        if mark.is_some_and(|at| at >= session.created_at) {
            return Ok((Some(Over::Ended), mark));
        }
        Ok((None, mark))
    }

    /// The use of `sid` this process holds in memory (not yet written), if any.
    fn held_use(&self, sid: &str) -> i64 {
        self.rules.held_use(sid)
    }

    /// The live sessions (of `sub` only, when given), newest first.
    ///
    /// # Errors
    /// A store error.
    pub fn sessions(&self, sub: Option<&str>) -> Result<Vec<Listed>> {
        let now = self.clock.now();
        let limits = self.rules.limits();
        let mut out = Vec::new();
        for session in self.revocations()?.sessions(sub)? {
            if self.over(&session, &limits, now)?.is_some() {
                continue;
            }
            let last_used_at = session.last_used_at.max(self.held_use(&session.sid));
            let expires_at = limits.ends_at(session.times(), last_used_at);
            out.push(Listed {
                session,
                last_used_at,
                expires_at,
            });
        }
        out.sort_by(|a, b| {
            (b.session.created_at, &b.session.sid).cmp(&(a.session.created_at, &a.session.sid))
        });
        Ok(out)
    }

    /// Ends the sessions `sids` (`sessions revoke`). With `owner`, only sessions of that user
    /// (`DELETE /sessions/{sid}`): another's is as unknown.
    ///
    /// # Errors
    /// `SessionNotFound` for a sid that is not a live session (of `owner`), before anything
    /// is ended; a store error.
    pub fn end_sessions(&self, sids: &[&str], owner: Option<&str>) -> Result<Vec<String>> {
        let now = self.clock.now();
        let limits = self.rules.limits();
        let revocations = self.revocations()?;
        for sid in sids {
            let live = match revocations.session(sid)? {
                Some(s) => {
                    owner.is_none_or(|o| s.sub == o) && self.over(&s, &limits, now)?.is_none()
                }
                None => false,
            };
            if !live {
                return Err(Error::SessionNotFound((*sid).to_string()));
            }
        }
        revocations.end_sessions(sids, now)
    }

    /// Ends every live session of `sub` but `keep` ("sign out everywhere else",
    /// `sessions revoke --user`). Returns the sids ended.
    ///
    /// # Errors
    /// A store error.
    pub fn end_user_sessions(&self, sub: &str, keep: Option<&str>) -> Result<Vec<String>> {
        self.revocations()?
            .end_user_sessions(sub, keep, self.clock.now())
    }

    /// Writes the uses `serve`'s checks held in memory (called about once a minute, off the
    /// request path).
    ///
    /// # Errors
    /// A store error (the uses are kept for the next write).
    pub fn write_uses(&self) -> Result<()> {
        let uses = self.rules.take_uses();
        if uses.is_empty() {
            return Ok(());
        }
        let written = self
            .revocations()
            .and_then(|store| store.touch_sessions(&uses));
        if written.is_err() {
            self.rules.put_back(uses);
        }
        written
    }

    /// Ends the session `refresh_token` names (`POST /revoke` of a refresh token, RFC 7009),
    /// whichever generation it is. Returns the sid and user of the session ended, `None` when
    /// it had ended already.
    ///
    /// # Errors
    /// `Error::Grant(Grant::Unknown)` when it is not a refresh token of this store; a store
    /// error.
    pub fn end_refresh(&self, refresh_token: &str) -> Result<Option<(String, String)>> {
        let unknown = || Error::Grant(Grant::Unknown);
        let parsed = refresh::parse(refresh_token).ok_or_else(unknown)?;
        let revocations = self.revocations()?;
        let session = revocations.session(&parsed.sid)?.ok_or_else(unknown)?;
        let current = session.refresh.as_ref().ok_or_else(unknown)?;
        // A generation handed out: an earlier one (a valid tag), or the current one (its hash).
        let handed_out = parsed.tag_ok(self.key()?.refresh_key()?)
            && (parsed.generation < current.generation
                || (parsed.generation == current.generation
                    && refresh::matches(refresh_token, &current.hash)));
        if !handed_out {
            return Err(unknown());
        }
        let ended = revocations.end_sessions(&[&session.sid], self.clock.now())?;
        Ok(ended.into_iter().next().map(|sid| (sid, session.sub)))
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
        let out = self.logout_token(verifier, scratch, token)?;
        Ok((out.jti, out.exp))
    }

    /// Logs a token out and ends its session (SPEC §13: logout means "end this sign-in"):
    /// its `jti` is revoked and its session ended. A token of a session accepts being
    /// expired; a token whose session had already ended (or expired) is a success, said so
    /// in [`LoggedOut::already_ended`].
    ///
    /// # Errors
    /// The token's error (a token without a session keeps every one), or a store error.
    pub fn logout_token(
        &self,
        verifier: &Verifier,
        scratch: &mut Scratch,
        token: &[u8],
    ) -> Result<LoggedOut> {
        let checked = match self.check(verifier, scratch, token, None) {
            Ok(c) => c,
            Err(e) => return self.logout_refused(verifier, scratch, token, e),
        };
        let (jti, exp) = self.end(&checked)?;
        let mut already_ended = false;
        if let Some(sid) = &checked.sid {
            let ended = self.revocations()?.end_sessions(&[sid], self.clock.now())?;
            already_ended = ended.is_empty();
        }
        Ok(LoggedOut {
            jti,
            exp,
            sid: checked.sid,
            sub: checked.sub,
            already_ended,
        })
    }

    /// A logout whose check failed with `e`: a token of a session whose only fault is that
    /// it expired, or that its session (or it) is over already, still ends its session.
    fn logout_refused(
        &self,
        verifier: &Verifier,
        scratch: &mut Scratch,
        token: &[u8],
        e: Error,
    ) -> Result<LoggedOut> {
        let now = self.clock.now();
        let at = match &e {
            // Checked as at the second before it expired: every other rule still holds.
            Error::Token(VerifyError::Expired { exp, .. }) => exp.saturating_sub(1).min(now),
            Error::Token(VerifyError::Revoked(_)) => now,
            _ => return Err(e),
        };
        let checked = match verifier.verify(token, at, scratch, None, None) {
            Ok(c) if c.sid.is_some() => c,
            _ => return Err(e),
        };
        let Some(sid) = checked.sid.clone() else {
            return Err(e);
        };
        let (Some(jti), Some(exp)) = (checked.jti.clone(), checked.exp) else {
            return Err(Reason::NoJti.into());
        };
        let revocations = self.revocations()?;
        let ended = revocations.end_sessions(&[&sid], now)?;
        if exp > now && revocations.check(&checked.query(now))? != Some(Revoked::Token) {
            revocations.revoke_token(&jti, exp, now)?;
        }
        Ok(LoggedOut {
            jti,
            exp,
            sid: Some(sid),
            sub: checked.sub,
            already_ended: ended.is_empty(),
        })
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
        let revocations = self.revocations()?;
        revocations.revoke_subject(sub, now, now)?;
        revocations.end_user_sessions(sub, None, now)?;
        Ok(now)
    }

    /// Drops the revocations whose tokens have expired by now, and the sessions past their
    /// absolute end; how many were dropped.
    ///
    /// # Errors
    /// A store error.
    pub fn prune(&self) -> Result<usize> {
        let now = self.clock.now();
        let revocations = self.revocations()?;
        // Sessions first: a store may drop them on any write, the tokens' prune included.
        let sessions = revocations.prune_sessions(now, self.rules.limits().max_age)?;
        let tokens = revocations.prune(now)?;
        Ok(tokens + sessions)
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

    /// Revokes every token of `name` issued up to now, and ends its sessions.
    fn revoke(&self, name: &str) -> Result<()> {
        let now = self.clock.now();
        let revocations = self.revocations()?;
        revocations.revoke_subject(name, now, now)?;
        revocations.end_user_sessions(name, None, now)?;
        Ok(())
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
                let revocations = self.revocations()?;
                revocations.revoke_subjects(&changing, now, now)?;
                for sub in &changing {
                    revocations.end_user_sessions(sub, None, now)?;
                }
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

/// A new session id: 128 random bits, base64url (SPEC §13).
fn new_sid() -> Result<String> {
    // A sid is typed on the command line (`sessions revoke SID`): one that began with '-'
    // would read as a flag there, so such a draw is redrawn (≥ 122 random bits remain).
    loop {
        let sid = tokens::new_jti()?;
        if !sid.starts_with('-') {
            return Ok(sid);
        }
    }
}

/// The `jti` of claims this authority made.
fn jti_of(claims: &Map<String, Value>) -> String {
    claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
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

    // ----- sessions (SPEC §13) ---------------------------------------------------------------

    mod sessions {
        use super::*;
        use crate::error::Grant;
        use crate::sessions::Rules;
        use crate::store::memory::MemoryUsers;
        use crate::verifier::Rules as VRules;

        const T0: i64 = 1_000_000;

        struct Fx {
            clock: FixedClock,
            users: Arc<MemoryUsers>,
            store: Arc<MemoryRevocations>,
            rules: Arc<Rules>,
            key: Arc<Key>,
        }

        fn fx(limits: Limits) -> Fx {
            let rules = Arc::new(Rules::new(limits, true));
            let users = Arc::new(MemoryUsers::new());
            let u = alice(&pw("right-password"));
            users.add("alice", &mut || Ok(u.clone())).unwrap();
            Fx {
                clock: FixedClock::new(T0),
                users,
                store: Arc::new(MemoryRevocations::with_rules(
                    Revocations::default(),
                    Arc::clone(&rules),
                )),
                rules,
                key: Arc::new(Key::hmac_for_tests(b"0123456789abcdef0123456789abcdef")),
            }
        }

        fn limits() -> Limits {
            Limits {
                max_age: 10_000,
                idle: 1_000,
                max_per_user: 100,
                reuse_grace: 0,
            }
        }

        impl Fx {
            fn a(&self) -> Authority<'_> {
                let users: Arc<dyn UserStore> = self.users.clone();
                let store: Arc<dyn RevocationStore> = self.store.clone();
                let policy = authority(&self.clock, |_| true).policy().clone();
                Authority::new(
                    Slot::ready(users),
                    Slot::ready(store),
                    Slot::ready(Arc::clone(&self.key)),
                    &self.clock,
                    policy,
                )
                .with_rules(Arc::clone(&self.rules))
            }

            fn login(&self, browser: bool) -> Issued {
                let password = pw("right-password");
                self.a()
                    .login(&LoginRequest {
                        name: "alice",
                        password: &password,
                        ttl: None,
                        iss: None,
                        aud: Some("api".into()),
                        extra: Map::new(),
                        allow_weak_key: false,
                        client: Client::Cli,
                        browser,
                    })
                    .unwrap()
            }

            fn verify(&self, token: &str) -> Result<Verified> {
                let v = Verifier::new(
                    &self.key,
                    VRules {
                        any_aud: true,
                        exp_required: true,
                        ..VRules::default()
                    },
                )
                .unwrap();
                self.a()
                    .check(&v, &mut Scratch::new(), token.as_bytes(), None)
            }

            fn logout(&self, token: &str) -> Result<LoggedOut> {
                let v = Verifier::new(
                    &self.key,
                    VRules {
                        any_aud: true,
                        exp_required: true,
                        ..VRules::default()
                    },
                )
                .unwrap();
                self.a()
                    .logout_token(&v, &mut Scratch::new(), token.as_bytes())
            }

            fn session(&self, sid: &str) -> Session {
                self.store.session(sid).unwrap().unwrap()
            }
        }

        fn grant(r: Result<Issued>) -> Grant {
            match r {
                Err(Error::Grant(g)) => g,
                other => panic!("expected a refused grant, got {other:?}"),
            }
        }

        fn rt(i: &Issued) -> String {
            i.refresh_token.as_ref().unwrap().to_string()
        }

        #[test]
        fn end_refresh_ends_the_session_of_any_generation_handed_out_and_only_that() {
            let f = fx(limits());
            let unknown = |r: Result<Option<(String, String)>>| {
                matches!(r, Err(Error::Grant(Grant::Unknown)))
            };
            // Not ours: garbage, a forged tag, a generation never handed out.
            assert!(unknown(f.a().end_refresh("garbage")));
            let i = f.login(false);
            let sid = i.sid.clone().unwrap();
            let r1 = f.a().refresh(&rt(&i)).unwrap();
            let mut forged = rt(&r1).into_bytes();
            let at = forged.len() - 3;
            forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
            assert!(unknown(
                f.a().end_refresh(std::str::from_utf8(&forged).unwrap())
            ));
            assert!(f.session(&sid).ended_at.is_none());
            // The spent generation 0 (a valid tag) ends it: an RFC 7009 revocation.
            let ended = f.a().end_refresh(&rt(&i)).unwrap();
            assert_eq!(ended, Some((sid.clone(), "alice".to_string())));
            assert!(f.session(&sid).ended_at.is_some());
            assert_eq!(grant(f.a().refresh(&rt(&r1))), Grant::Ended);
            // Again: nothing left to end.
            assert_eq!(f.a().end_refresh(&rt(&r1)).unwrap(), None);
            // The current one ends its session too.
            let i = f.login(false);
            let ended = f.a().end_refresh(&rt(&i)).unwrap();
            assert_eq!(ended.map(|(s, _)| s), i.sid);
        }

        #[test]
        fn a_login_begins_a_session_its_token_names() {
            let f = fx(limits());
            let i = f.login(false);
            let sid = i.sid.clone().unwrap();
            assert!(sid.len() >= 22, "{sid}");
            assert_eq!(i.claims["sid"], sid.as_str());
            let s = f.session(&sid);
            assert_eq!((s.created_at, s.last_used_at), (T0, T0));
            assert_eq!(s.client, Client::Cli);
            assert_eq!(s.amr, ["pwd"]);
            assert_eq!(s.issue.ttl, 900);
            // What a refresh issues again: aud, not the times or the user's claims.
            assert_eq!(
                s.issue.claims.keys().collect::<Vec<_>>(),
                [&"aud".to_string()]
            );
            let r = s.refresh.unwrap();
            assert_eq!(r.generation, 0);
            // Only the hash of the refresh token is stored.
            assert_eq!(r.hash, refresh::hash(&rt(&i)));
            assert_ne!(r.hash, rt(&i));
            assert!(rt(&i).len() >= 43);
            assert_eq!(
                s.tokens.get(i.claims["jti"].as_str().unwrap()),
                Some(&i.exp)
            );
            assert_eq!(i.exp, T0 + 900);
            assert_eq!(
                f.verify(&i.token).unwrap().sid.as_deref(),
                Some(sid.as_str())
            );
        }

        #[test]
        fn no_token_outlives_its_session() {
            // ttl 900 > idle 300: exp is iat + idle.
            let f = fx(Limits {
                idle: 300,
                ..limits()
            });
            assert_eq!(f.login(false).exp, T0 + 300);
            // max_age 200 < ttl (valid): exp is the absolute end.
            let f = fx(Limits {
                max_age: 200,
                ..limits()
            });
            assert_eq!(f.login(false).exp, T0 + 200);
            // A browser's token lives to the absolute end, and has no refresh token.
            let f = fx(limits());
            let b = f.login(true);
            assert_eq!(b.exp, T0 + 10_000);
            assert!(b.refresh_token.is_none());
            assert!(f.session(b.sid.as_ref().unwrap()).refresh.is_none());
            assert!(f.session(b.sid.as_ref().unwrap()).issue.browser);
            // Nor does a refreshed token: late in the session, the absolute end caps it.
            let i = f.login(false);
            f.clock.advance(9_500);
            f.rules.set_limits(Limits {
                idle: 100_000,
                ..limits()
            });
            let r = f.a().refresh(&rt(&i)).unwrap();
            assert_eq!(r.exp, T0 + 10_000);
        }

        #[test]
        fn a_refresh_rotates_and_a_reuse_ends_the_session() {
            let f = fx(limits());
            let i = f.login(false);
            let sid = i.sid.clone().unwrap();
            f.clock.advance(60);
            let r1 = f.a().refresh(&rt(&i)).unwrap();
            assert_eq!(r1.sid.as_deref(), Some(sid.as_str()));
            assert_eq!(r1.iat, T0 + 60);
            assert_eq!(r1.exp, T0 + 60 + 900);
            assert_eq!(r1.claims["aud"], "api");
            assert_eq!(r1.claims["groups"], serde_json::json!(["admins"]));
            assert_ne!(r1.claims["jti"], i.claims["jti"]);
            assert_ne!(rt(&r1), rt(&i));
            let s = f.session(&sid);
            assert_eq!(s.refresh.as_ref().unwrap().generation, 1);
            assert_eq!(s.last_used_at, T0 + 60);
            assert_eq!(s.tokens.len(), 2);
            // Chained: generation 2.
            let r2 = f.a().refresh(&rt(&r1)).unwrap();
            assert_eq!(f.session(&sid).refresh.unwrap().generation, 2);
            // A spent one again: theft. Refused, and the whole session ends.
            assert_eq!(grant(f.a().refresh(&rt(&i))), Grant::Reused);
            assert!(f.session(&sid).ended_at.is_some());
            assert_eq!(grant(f.a().refresh(&rt(&r2))), Grant::Ended);
            for t in [&i.token, &r1.token, &r2.token] {
                assert!(
                    matches!(
                        f.verify(t),
                        Err(Error::Token(VerifyError::Revoked(Revoked::Token)))
                    ),
                    "{:?}",
                    f.verify(t)
                );
            }
        }

        #[test]
        fn within_the_grace_the_token_spent_just_before_is_refused_without_ending() {
            let f = fx(Limits {
                reuse_grace: 10,
                ..limits()
            });
            let i = f.login(false);
            let sid = i.sid.clone().unwrap();
            let r1 = f.a().refresh(&rt(&i)).unwrap();
            f.clock.advance(10);
            assert_eq!(grant(f.a().refresh(&rt(&i))), Grant::Ended);
            assert!(f.session(&sid).ended_at.is_none());
            let r2 = f.a().refresh(&rt(&r1)).unwrap();
            // Two generations back is a reuse, grace or not.
            assert_eq!(grant(f.a().refresh(&rt(&i))), Grant::Reused);
            assert!(f.session(&sid).ended_at.is_some());
            assert_eq!(grant(f.a().refresh(&rt(&r2))), Grant::Ended);
            // After the grace, the one just spent ends the session too.
            let i = f.login(false);
            let sid = i.sid.clone().unwrap();
            f.a().refresh(&rt(&i)).unwrap();
            f.clock.advance(11);
            assert_eq!(grant(f.a().refresh(&rt(&i))), Grant::Reused);
            assert!(f.session(&sid).ended_at.is_some());
        }

        #[test]
        fn two_clients_racing_one_token_exactly_one_wins_and_the_session_ends() {
            let f = fx(limits());
            let i = f.login(false);
            let token = rt(&i);
            let outcomes: Vec<Result<Issued>> = std::thread::scope(|sc| {
                let hs: Vec<_> = (0..2).map(|_| sc.spawn(|| f.a().refresh(&token))).collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
            assert_eq!(
                outcomes
                    .iter()
                    .filter(|o| matches!(o, Err(Error::Grant(Grant::Reused))))
                    .count(),
                1
            );
            assert!(f.session(i.sid.as_ref().unwrap()).ended_at.is_some());
        }

        #[test]
        fn a_forged_or_foreign_token_is_unknown_and_ends_nothing() {
            let f = fx(limits());
            let i = f.login(false);
            let sid = i.sid.clone().unwrap();
            let r1 = f.a().refresh(&rt(&i)).unwrap();
            // A valid sid and an older generation, but a tag under another key.
            let forged = refresh::make(&[9; 32], &sid, 0).unwrap();
            assert_eq!(grant(f.a().refresh(&forged)), Grant::Unknown);
            // The current generation with a valid tag but not the stored token.
            let other = refresh::make(f.key.refresh_key().unwrap(), &sid, 1).unwrap();
            assert_eq!(grant(f.a().refresh(&other)), Grant::Unknown);
            // A generation never handed out.
            let ahead = refresh::make(f.key.refresh_key().unwrap(), &sid, 7).unwrap();
            assert_eq!(grant(f.a().refresh(&ahead)), Grant::Unknown);
            assert!(f.session(&sid).ended_at.is_none());
            // An unknown session, garbage, an access token: unknown.
            let unknown = refresh::make(f.key.refresh_key().unwrap(), "nosuchsid", 0).unwrap();
            for bad in [
                unknown.as_str(),
                "",
                "garbage",
                &i.token,
                &"x".repeat(10_000),
            ] {
                assert_eq!(grant(f.a().refresh(bad)), Grant::Unknown, "{bad:?}");
            }
            f.a().refresh(&rt(&r1)).unwrap();
        }

        #[test]
        fn a_session_over_by_time_or_by_its_user_is_refused() {
            // Idle: expired (3), not ended.
            let f = fx(limits());
            let i = f.login(false);
            f.clock.advance(1_000);
            assert_eq!(grant(f.a().refresh(&rt(&i))), Grant::Expired);
            assert!(matches!(
                f.verify(&i.token),
                Err(Error::Token(VerifyError::Expired { .. }))
            ));
            // Used (a refresh is a use): the idle limit moves; the absolute one does not.
            let f = fx(limits());
            let mut t = rt(&f.login(false));
            for _ in 0..10 {
                f.clock.advance(999);
                t = rt(&f.a().refresh(&t).unwrap());
            }
            f.clock.advance(999);
            assert_eq!(grant(f.a().refresh(&t)), Grant::Expired);
            // A use held in memory (a server's check) counts before it is written.
            let f = fx(limits());
            let i = f.login(false);
            f.clock.advance(800);
            f.verify(&i.token).unwrap();
            f.clock.advance(800);
            let r = f.a().refresh(&rt(&i)).unwrap();
            assert_eq!(f.session(r.sid.as_ref().unwrap()).last_used_at, T0 + 1_600);
            // A subject revoked after the session began: ended.
            let f = fx(limits());
            let i = f.login(false);
            f.store.revoke_subject("alice", T0 + 1, T0 + 1).unwrap();
            f.clock.advance(2);
            assert_eq!(grant(f.a().refresh(&rt(&i))), Grant::Ended);
            assert!(f.session(i.sid.as_ref().unwrap()).ended_at.is_some());
        }

        #[test]
        fn a_refresh_re_reads_the_user() {
            // Disabled behind the authority's back (another host): refused, session ended.
            let f = fx(limits());
            let i = f.login(false);
            f.users
                .update("alice", &mut |u| {
                    u.disabled = true;
                    Ok(())
                })
                .unwrap();
            assert_eq!(grant(f.a().refresh(&rt(&i))), Grant::Ended);
            assert!(f.session(i.sid.as_ref().unwrap()).ended_at.is_some());
            // Removed: refused.
            let f = fx(limits());
            let i = f.login(false);
            f.users.remove("alice").unwrap();
            assert_eq!(grant(f.a().refresh(&rt(&i))), Grant::Ended);
            // A group added shows; every use case that takes something away ends sessions.
            type Change = fn(&Authority<'_>);
            let cases: [(&str, Change); 6] = [
                ("disable", |a| {
                    a.set_disabled("alice", true).unwrap();
                }),
                ("passwd", |a| {
                    a.change_password("alice", "$2b$04$x", &mut |_| {}).unwrap();
                }),
                ("remove", |a| {
                    a.remove_user("alice").unwrap();
                }),
                ("group taken", |a| {
                    a.edit_user("alice", &mut |u| u.groups.clear()).unwrap();
                }),
                ("logout --all", |a| {
                    a.logout_all("alice", true).unwrap();
                }),
                ("import --replace", |a| {
                    let mut u = alice(&pw("another-password"));
                    u.hashed_password = "$2b$04$y".into();
                    a.import_users(vec![u], true).unwrap();
                }),
            ];
            for (what, change) in cases {
                let f = fx(limits());
                let i = f.login(false);
                change(&f.a());
                let s = f.session(i.sid.as_ref().unwrap());
                assert_eq!(s.ended_at, Some(T0), "{what}");
                assert_eq!(grant(f.a().refresh(&rt(&i))), Grant::Ended, "{what}");
            }
            let f = fx(limits());
            let i = f.login(false);
            f.a()
                .edit_user("alice", &mut |u| u.groups.push("ops".into()))
                .unwrap();
            let r = f.a().refresh(&rt(&i)).unwrap();
            assert_eq!(r.claims["groups"], serde_json::json!(["admins", "ops"]));
        }

        #[test]
        fn a_logout_ends_the_session_and_an_ended_one_is_a_success() {
            let f = fx(limits());
            let i = f.login(false);
            let sid = i.sid.clone().unwrap();
            let r = f.a().refresh(&rt(&i)).unwrap();
            let out = f.logout(&i.token).unwrap();
            assert_eq!(out.sid.as_deref(), Some(sid.as_str()));
            assert!(!out.already_ended);
            // Every token and the refresh token of the session are refused.
            assert!(f.verify(&r.token).is_err());
            assert_eq!(grant(f.a().refresh(&rt(&r))), Grant::Ended);
            // Again, and with the other token: success, said so.
            assert!(f.logout(&i.token).unwrap().already_ended);
            assert!(f.logout(&r.token).unwrap().already_ended);
            // A session's token whose only fault is that it expired ends its session.
            let i = f.login(false);
            f.clock.advance(901);
            let out = f.logout(&i.token).unwrap();
            assert!(!out.already_ended);
            assert!(f.session(i.sid.as_ref().unwrap()).ended_at.is_some());
            // A token without a session keeps its refusals (expired: 3).
            let minted = f
                .a()
                .mint(MintRequest {
                    sub: "alice".into(),
                    iat: Some(T0),
                    exp: Some(T0 + 10),
                    ..MintRequest::default()
                })
                .unwrap();
            assert!(matches!(
                f.logout(&minted.token),
                Err(Error::Token(VerifyError::Expired { .. }))
            ));
            // A token of an unknown session is not ours to end: it is already over.
            assert!(f.verify(&minted.token).is_err());
        }

        #[test]
        fn sessions_are_listed_newest_first_and_ended_all_or_nothing() {
            let f = fx(limits());
            let a1 = f.login(false);
            f.clock.advance(10);
            let a2 = f.login(true);
            f.clock.advance(10);
            let a3 = f.login(false);
            let sid = |i: &Issued| i.sid.clone().unwrap();
            let listed: Vec<String> = f
                .a()
                .sessions(Some("alice"))
                .unwrap()
                .into_iter()
                .map(|l| l.session.sid)
                .collect();
            assert_eq!(listed, [sid(&a3), sid(&a2), sid(&a1)]);
            let l = &f.a().sessions(None).unwrap()[2];
            assert_eq!(l.expires_at, T0 + 1_000);
            // A use held in memory moves last use and the idle end.
            f.clock.advance(5);
            f.verify(&a1.token).unwrap();
            let l = &f.a().sessions(None).unwrap()[2];
            assert_eq!((l.last_used_at, l.expires_at), (T0 + 25, T0 + 1_025));
            assert!(f.a().sessions(Some("bob")).unwrap().is_empty());
            // All or nothing: an unknown sid ends none.
            let e = f.a().end_sessions(&[&sid(&a1), "nope"], None).unwrap_err();
            assert!(
                matches!(e, Error::SessionNotFound(ref s) if s == "nope"),
                "{e:?}"
            );
            assert_eq!(f.a().sessions(None).unwrap().len(), 3);
            // Another's session is as unknown.
            let e = f.a().end_sessions(&[&sid(&a1)], Some("bob")).unwrap_err();
            assert!(matches!(e, Error::SessionNotFound(_)));
            assert_eq!(
                f.a().end_sessions(&[&sid(&a1)], Some("alice")).unwrap(),
                [sid(&a1)]
            );
            // An ended one is not found any more.
            assert!(f.a().end_sessions(&[&sid(&a1)], None).is_err());
            // Everywhere else: all of alice's but one.
            assert_eq!(
                f.a().end_user_sessions("alice", Some(&sid(&a3))).unwrap(),
                [sid(&a2)]
            );
            let listed = f.a().sessions(None).unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].session.sid, sid(&a3));
        }

        #[test]
        fn uses_held_in_memory_are_written_and_sessions_pruned() {
            let f = fx(limits());
            let i = f.login(false);
            let sid = i.sid.clone().unwrap();
            f.clock.advance(100);
            f.verify(&i.token).unwrap();
            assert_eq!(f.session(&sid).last_used_at, T0);
            f.a().write_uses().unwrap();
            assert_eq!(f.session(&sid).last_used_at, T0 + 100);
            assert!(f.rules.take_uses().is_empty());
            f.a().write_uses().unwrap();
            // Past its absolute end, prune drops it (its tokens' revocations expire too).
            f.a().end_sessions(&[&sid], None).unwrap();
            f.clock.advance(10_000);
            assert_eq!(f.a().prune().unwrap(), 2);
            assert!(f.store.session(&sid).unwrap().is_none());
        }
    }
}
