//! Logging in, the same way for every front end: the password check that takes the same
//! time and gives the same error for an unknown user, a wrong password and a disabled user,
//! whatever the stored hashes' parameters (SPEC §6, §15), the upgrade of a stored hash to the configured scheme on a successful login
//! (SPEC §11), the claims a login token takes from the user's record, and the issue time
//! that keeps a new token from being born revoked.

use std::path::Path;

use serde_json::{Map, Value};

use crate::clock::{Clock, span, utc};
use crate::error::{Error, Result};
use crate::passwords::{self, Password, Scheme};
use crate::store::{RevocationStore, UserStore};
use crate::users::User;

/// How a login treats password hashes (SPEC §11): the scheme and parameters new hashes are
/// made with (config `password_scheme`, `bcrypt_cost`, `argon2_*`), whether a successful
/// login replaces a stored hash made otherwise (config `rehash_on_login`), and whether legacy
/// htpasswd hashes are accepted (config `allow_legacy_hashes`, SPEC §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashPolicy {
    /// The scheme and parameters of new hashes, and of the dummy hash an unknown user is
    /// checked against when the store has no hash to imitate ([`authenticate`]).
    pub scheme: Scheme,
    /// Replace a hash of another scheme or other parameters after a successful login.
    pub rehash_on_login: bool,
    /// Accept legacy htpasswd hashes (`$apr1$`, `{SHA}`, `$1$`, `$5$`, `$6$`); when false a
    /// record with one is a broken store, as any unsupported hash.
    pub allow_legacy: bool,
    /// Write nothing: no rehash at all, not even of a legacy hash (`user check`).
    pub read_only: bool,
}

impl HashPolicy {
    /// The same policy without rehashing (a check that writes nothing: `user check`).
    pub fn read_only(self) -> Self {
        HashPolicy {
            rehash_on_login: false,
            read_only: true,
            ..self
        }
    }

    /// Whether a successful login with a hash like `info` (and this password) stores a new
    /// one: a legacy hash always (SPEC §15: whatever `rehash_on_login` says), another when
    /// rehashing is on and it is weaker than the configured scheme; never for a read-only
    /// check. A password over 72 bytes is not rehashed to bcrypt (which would refuse it), so
    /// the login stands and the old hash stays (a legacy one until a login with a shorter
    /// password, or `user passwd`).
    fn rehashes(&self, info: &passwords::HashInfo, password: &Password) -> bool {
        !self.read_only
            && (info.is_legacy() || self.rehash_on_login && info.needs_update(&self.scheme))
            && passwords::fits(password, &self.scheme).is_ok()
    }
}

/// What a successful login did to the stored hash.
#[derive(Debug)]
pub enum Rehash {
    /// Nothing: the hash is of the configured scheme and parameters, rehashing is off, or
    /// the password is over 72 bytes and the configured scheme is bcrypt.
    Kept,
    /// Replaced by a hash of the configured scheme and parameters.
    Upgraded {
        /// What the old hash was.
        from: Scheme,
        /// What the new one is.
        to: Scheme,
    },
    /// Not replaced: the record changed since it was read (another writer wins).
    Superseded,
    /// Not replaced: hashing or writing failed. The login stands; the front end warns.
    Failed(Error),
}

/// A successful login: the user's record (as read before any rehash) and what became of its
/// hash.
#[derive(Debug)]
pub struct LoggedIn {
    /// The user.
    pub user: User,
    /// Whether the stored hash was upgraded.
    pub rehash: Rehash,
}

/// Checks `name`'s password: the user, if it exists, is enabled and the password matches.
/// Unknown user, wrong password and disabled user end in the same `LoginRefused` after at
/// least one verification at the *reference* parameters, so neither the message nor the time
/// tells them apart (SPEC §15 "Users and hashes"). The reference is the scheme with parameters
/// most users in the store have ([`UserStore::typical_scheme`], cached by the store), or the
/// configured one for a store with none: an unknown user is checked against a dummy hash of
/// it, and a refused check against a stored hash that may cost less (a lower bcrypt cost,
/// weaker argon2id parameters, another scheme) is followed by that same dummy check.
///
/// Padding with the reference's own work, rather than sleeping until a deadline measured
/// beforehand, needs no calibration and holds under any load or clock speed: the refused
/// check costs at least the reference's time, and only a little more for a weak hash (its own
/// check on top). A hash *stronger* than the reference still takes longer, which tells only
/// that some user has a stronger hash. A disabled user is checked like an enabled one, then
/// refused.
///
/// After a successful check, when `policy` rehashes and the stored hash is of another scheme
/// or other parameters than `policy.scheme` (passlib's `verify_and_update`), or is a legacy
/// htpasswd hash (replaced whatever `rehash_on_login` says, SPEC §15), the password is
/// hashed anew and stored, only if the stored hash is still the one just verified
/// ([`UserStore::replace_hash`]). The login succeeds whatever becomes of that ([`Rehash`]).
///
/// A record whose hash is not one this tool can check is a broken store, not a wrong
/// password (SPEC §8): that is a store error naming the user and the store, never the hash.
///
/// # Errors
/// `LoginRefused`, or a store error (also for an unsupported hash).
pub fn authenticate(
    users: &dyn UserStore,
    name: &str,
    password: &Password,
    policy: &HashPolicy,
) -> Result<LoggedIn> {
    check(users, name, password, policy, &mut |p, h| {
        passwords::verify(p, h).unwrap_or(false)
    })
}

/// The parameters a refused check must cost at least as much as: those most users have, else
/// the configured ones.
fn reference(users: &dyn UserStore, policy: &HashPolicy) -> Result<Scheme> {
    Ok(users.typical_scheme()?.unwrap_or(policy.scheme))
}

/// The dummy check a refused login runs beside the stored hash's own check (`None`: no user),
/// so that it costs at least `reference`'s time: none when the stored hash costs as much.
fn padding(stored: Option<&Scheme>, reference: Scheme) -> Option<Scheme> {
    match stored {
        Some(s) if s.costs_at_least(&reference) => None,
        _ => Some(reference),
    }
}

/// [`authenticate`] with the verification as a parameter: the unit tests count what is
/// verified instead of timing it.
fn check(
    users: &dyn UserStore,
    name: &str,
    password: &Password,
    policy: &HashPolicy,
    verify: &mut dyn FnMut(&Password, &str) -> bool,
) -> Result<LoggedIn> {
    // Worked out for every login, known user or not, so that it costs them all the same.
    let reference = reference(users, policy)?;
    match users.get(name)? {
        Some(user) => {
            let Ok(info) = passwords::accepted(&user.hashed_password, policy.allow_legacy) else {
                let legacy = if policy.allow_legacy {
                    ", or a legacy htpasswd hash: apr1, SHA-1, MD5-crypt or SHA-crypt"
                } else {
                    "; legacy htpasswd hashes are refused by allow_legacy_hashes = false"
                };
                return Err(Error::corrupt(
                    Path::new(&users.location()),
                    format!(
                        "the record of user {name:?} has a hashed_password that is not a supported password hash (bcrypt $2a$, $2b$, $2x$ or $2y$, or argon2id within the bounds{legacy}); set one with 'jwtauth user passwd'"
                    ),
                ));
            };
            let matches = verify(password, &user.hashed_password);
            if !matches || user.disabled {
                if let Some(dummy) = padding(Some(&info.scheme), reference) {
                    let _ = verify(password, &passwords::dummy_hash(&dummy));
                }
                return Err(Error::LoginRefused);
            }
            let rehash = if policy.rehashes(&info, password) {
                rehash(users, &user, password, info.scheme, policy.scheme)
            } else {
                Rehash::Kept
            };
            Ok(LoggedIn { user, rehash })
        }
        None => {
            if let Some(dummy) = padding(None, reference) {
                let _ = verify(password, &passwords::dummy_hash(&dummy));
            }
            Err(Error::LoginRefused)
        }
    }
}

/// Hashes `password` with `to` and stores it in place of `user`'s hash if that is unchanged.
fn rehash(
    users: &dyn UserStore,
    user: &User,
    password: &Password,
    from: Scheme,
    to: Scheme,
) -> Rehash {
    let new = match passwords::hash(password, &to) {
        Ok(h) => h,
        Err(e) => return Rehash::Failed(e),
    };
    match users.replace_hash(&user.username, &user.hashed_password, &new) {
        Ok(true) => Rehash::Upgraded { from, to },
        Ok(false) => Rehash::Superseded,
        Err(e) => Rehash::Failed(e),
    }
}

/// The claims a login token takes from the user's record, the same for every front end
/// (`login`, `serve`'s `POST /token` and its login page): today the user's `groups`, when
/// there are any (SPEC §8). The caller adds `sub`, the times, `jti`, `iss` and `aud`.
pub fn user_claims(user: &User) -> Map<String, Value> {
    let mut claims = Map::new();
    if !user.groups.is_empty() {
        claims.insert("groups".into(), user.groups.clone().into());
    }
    claims
}

/// The `iat` of a new token for `sub`: now, or the next second when `sub` was revoked in
/// this very second (a token issued then would be born revoked); the clock waits for that
/// second ([`Clock::sleep_until`]).
///
/// # Errors
/// A configuration error when the revocation is dated in the future (a wrong clock), or a
/// store error.
pub fn issue_time(revocations: &dyn RevocationStore, sub: &str, clock: &dyn Clock) -> Result<i64> {
    issue_time_after(revocations.subject_revoked_at(sub)?, sub, clock)
}

/// [`issue_time`] given `sub`'s revocation mark as just read (a caller that read it already
/// asks the store once).
///
/// # Errors
/// As [`issue_time`].
pub fn issue_time_after(mark: Option<i64>, sub: &str, clock: &dyn Clock) -> Result<i64> {
    let now = clock.now();
    match mark {
        Some(at) if at >= now => {
            if at > now + 1 {
                return Err(Error::config(
                    format!("revocation of {sub:?}"),
                    format!(
                        "is dated {} in the future ({}); is the clock right?",
                        span(at - now),
                        utc(at)
                    ),
                ));
            }
            clock.sleep_until(at + 1);
            Ok(at + 1)
        }
        _ => Ok(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passwords::Argon2Params;
    use crate::store::FileUsers;
    use std::time::Duration;
    use zeroize::Zeroizing;

    const SMALL: Scheme = Scheme::Argon2id(Argon2Params {
        memory_kib: 64,
        time: 1,
        lanes: 1,
    });

    fn pw(s: &str) -> Password {
        Password::new(Zeroizing::new(s.as_bytes().to_vec())).unwrap()
    }

    fn user(name: &str, hash: String) -> User {
        User {
            username: name.into(),
            full_name: None,
            email: None,
            hashed_password: hash,
            disabled: false,
            created_at: 1,
            password_changed_at: 1,
            groups: Vec::new(),
        }
    }

    /// A store where another writer changes the user's password between the login's read
    /// and its rehash (a `user passwd` racing the login).
    struct Racing {
        inner: FileUsers,
        other: String,
    }

    impl UserStore for Racing {
        fn get(&self, name: &str) -> Result<Option<User>> {
            self.inner.get(name)
        }
        fn exists(&self, name: &str) -> Result<bool> {
            self.inner.exists(name)
        }
        fn add(&self, name: &str, make: &mut dyn FnMut() -> Result<User>) -> Result<User> {
            self.inner.add(name, make)
        }
        fn update(
            &self,
            name: &str,
            change: &mut dyn FnMut(&mut User) -> Result<()>,
        ) -> Result<User> {
            self.inner.update(name, change)
        }
        fn remove(&self, name: &str) -> Result<User> {
            self.inner.remove(name)
        }
        fn list(&self) -> Result<Vec<User>> {
            self.inner.list()
        }
        fn import(&self, users: Vec<User>, replace: bool) -> Result<crate::store::Imported> {
            self.inner.import(users, replace)
        }
        fn typical_scheme(&self) -> Result<Option<Scheme>> {
            self.inner.typical_scheme()
        }
        fn location(&self) -> String {
            self.inner.location()
        }
        fn replace_hash(&self, name: &str, current: &str, new: &str) -> Result<bool> {
            let other = self.other.clone();
            self.inner.update(name, &mut |u| {
                u.hashed_password = other.clone();
                Ok(())
            })?;
            self.inner.replace_hash(name, current, new)
        }
    }

    #[test]
    fn a_rehash_never_overwrites_a_concurrent_change_and_the_login_stands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        let inner = FileUsers::new(&path, Duration::from_secs(5));
        let old = passwords::hash(&pw("pw"), &Scheme::Bcrypt { cost: 4 }).unwrap();
        inner
            .add("alice", &mut || Ok(user("alice", old.clone())))
            .unwrap();
        let other = passwords::hash(&pw("new"), &Scheme::Bcrypt { cost: 4 }).unwrap();
        let racing = Racing {
            inner,
            other: other.clone(),
        };
        let policy = HashPolicy {
            scheme: SMALL,
            rehash_on_login: true,
            allow_legacy: true,
            read_only: false,
        };
        let done = authenticate(&racing, "alice", &pw("pw"), &policy).unwrap();
        assert!(
            matches!(done.rehash, Rehash::Superseded),
            "{:?}",
            done.rehash
        );
        assert_eq!(
            racing.inner.get("alice").unwrap().unwrap().hashed_password,
            other,
            "the other writer wins"
        );
    }

    /// A file store holding `users` (name, hash, disabled).
    fn store_of(dir: &Path, users: &[(&str, &str, bool)]) -> FileUsers {
        let store = FileUsers::new(&dir.join("users.json"), Duration::from_secs(5));
        for (name, hash, disabled) in users {
            store
                .add(name, &mut || {
                    Ok(User {
                        disabled: *disabled,
                        ..user(name, (*hash).to_string())
                    })
                })
                .unwrap();
        }
        store
    }

    #[test]
    fn the_reference_is_what_most_users_have_else_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let b = |cost| Scheme::Bcrypt { cost };
        let policy = HashPolicy {
            scheme: b(12),
            rehash_on_login: true,
            allow_legacy: true,
            read_only: false,
        };
        let empty = store_of(dir.path(), &[]);
        assert_eq!(reference(&empty, &policy).unwrap(), b(12));
        // Dummy hashes are well-formed hashes: all the count reads.
        let (c4, c5) = (passwords::dummy_hash(&b(4)), passwords::dummy_hash(&b(5)));
        let small = passwords::dummy_hash(&SMALL);
        let users = store_of(
            &dir.path().join("b"),
            &[
                ("a", &c5, false),
                ("b", &small, false),
                ("c", &c4, false),
                ("d", &c4, true),
                ("e", &small, false),
                ("f", &c4, false),
                ("g", "not a hash", false),
                ("h", "not a hash", false),
                ("i", "not a hash", false),
                ("j", "not a hash", false),
            ],
        );
        assert_eq!(reference(&users, &policy).unwrap(), b(4));
        // A change to the file is seen by the next login (a new copy, counted anew).
        for name in ["c", "d"] {
            users
                .update(name, &mut |u| {
                    u.hashed_password = small.clone();
                    Ok(())
                })
                .unwrap();
        }
        assert_eq!(reference(&users, &policy).unwrap(), SMALL);
        // A tie goes to the first in name order.
        users
            .update("f", &mut |u| {
                u.hashed_password = c5.clone();
                Ok(())
            })
            .unwrap();
        users
            .update("e", &mut |u| {
                u.hashed_password = c5.clone();
                Ok(())
            })
            .unwrap();
        assert_eq!(reference(&users, &policy).unwrap(), b(5));
    }

    #[test]
    fn a_refused_check_against_a_cheaper_hash_is_padded_to_the_reference() {
        let b = |cost| Scheme::Bcrypt { cost };
        // The plan alone.
        assert_eq!(padding(None, b(8)), Some(b(8)));
        assert_eq!(padding(Some(&b(8)), b(8)), None);
        assert_eq!(padding(Some(&b(9)), b(8)), None);
        assert_eq!(padding(Some(&b(4)), b(8)), Some(b(8)));
        assert_eq!(padding(Some(&SMALL), b(8)), Some(b(8)));
        assert_eq!(padding(Some(&b(31)), SMALL), Some(SMALL));

        // Through the login, counting what is verified.
        let dir = tempfile::tempdir().unwrap();
        let h4 = passwords::hash(&pw("pw"), &b(4)).unwrap();
        let h5 = passwords::hash(&pw("pw"), &b(5)).unwrap();
        let ha = passwords::hash(&pw("pw"), &SMALL).unwrap();
        let users = store_of(
            dir.path(),
            &[
                ("typical", &h5, false),
                ("typical2", &h5, false),
                ("typical-off", &h5, true),
                ("weak", &h4, false),
                ("weak-off", &h4, true),
                ("argon", &ha, false),
            ],
        );
        // The configured scheme is neither: the store's most common one rules.
        let policy = HashPolicy {
            scheme: b(12),
            rehash_on_login: false,
            allow_legacy: true,
            read_only: false,
        };
        let verified = |name: &str, password: &str| {
            let mut seen = Vec::new();
            let done = check(&users, name, &pw(password), &policy, &mut |p, h| {
                seen.push(passwords::inspect(h).unwrap().scheme);
                passwords::verify(p, h).unwrap()
            });
            (done.is_ok(), seen)
        };
        let refused_at = |name: &str, password: &str, want: &[Scheme]| {
            assert_eq!(verified(name, password), (false, want.to_vec()), "{name}");
        };
        refused_at("nobody", "pw", &[b(5)]);
        refused_at("typical", "wrong", &[b(5)]);
        refused_at("typical-off", "pw", &[b(5)]);
        refused_at("weak", "wrong", &[b(4), b(5)]);
        refused_at("weak-off", "pw", &[b(4), b(5)]);
        refused_at("argon", "wrong", &[SMALL, b(5)]);
        // A successful login needs no padding: its answer shows anyway.
        assert_eq!(verified("weak", "pw"), (true, vec![b(4)]));
        assert_eq!(verified("typical", "pw"), (true, vec![b(5)]));
    }

    #[test]
    fn a_login_upgrades_once_and_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let users = FileUsers::new(&dir.path().join("users.json"), Duration::from_secs(5));
        let old = passwords::hash(&pw("pw"), &Scheme::Bcrypt { cost: 4 }).unwrap();
        users
            .add("alice", &mut || Ok(user("alice", old.clone())))
            .unwrap();
        let policy = HashPolicy {
            scheme: SMALL,
            rehash_on_login: true,
            allow_legacy: true,
            read_only: false,
        };
        let off = authenticate(&users, "alice", &pw("pw"), &policy.read_only()).unwrap();
        assert!(matches!(off.rehash, Rehash::Kept));
        assert!(matches!(
            authenticate(&users, "alice", &pw("wrong"), &policy),
            Err(Error::LoginRefused)
        ));
        assert_eq!(users.get("alice").unwrap().unwrap().hashed_password, old);
        let done = authenticate(&users, "alice", &pw("pw"), &policy).unwrap();
        assert!(
            matches!(done.rehash, Rehash::Upgraded { from: Scheme::Bcrypt { cost: 4 }, to } if to == SMALL)
        );
        let new = users.get("alice").unwrap().unwrap();
        assert!(
            new.hashed_password
                .starts_with("$argon2id$v=19$m=64,t=1,p=1$")
        );
        assert_eq!(new.password_changed_at, 1);
        let again = authenticate(&users, "alice", &pw("pw"), &policy).unwrap();
        assert!(matches!(again.rehash, Rehash::Kept));
        assert!(matches!(
            authenticate(&users, "nobody", &pw("pw"), &policy),
            Err(Error::LoginRefused)
        ));
    }

    #[test]
    fn a_legacy_hash_is_replaced_whatever_rehash_on_login_says_but_never_by_a_check() {
        let dir = tempfile::tempdir().unwrap();
        let users = FileUsers::new(&dir.path().join("users.json"), Duration::from_secs(5));
        // `openssl passwd -apr1 -salt r31.....`, Apache's manual.
        let apr1 = "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/";
        users
            .add("alice", &mut || Ok(user("alice", apr1.into())))
            .unwrap();
        let policy = HashPolicy {
            scheme: Scheme::Bcrypt { cost: 4 },
            rehash_on_login: false,
            allow_legacy: true,
            read_only: false,
        };
        let refused = HashPolicy {
            allow_legacy: false,
            ..policy
        };
        let err = authenticate(&users, "alice", &pw("myPassword"), &refused).unwrap_err();
        assert!(matches!(err, Error::Store(_)), "{err:?}");
        assert!(
            err.to_string().contains("allow_legacy_hashes = false"),
            "{err}"
        );
        let checked = authenticate(&users, "alice", &pw("myPassword"), &policy.read_only());
        assert!(matches!(checked.unwrap().rehash, Rehash::Kept));
        assert_eq!(users.get("alice").unwrap().unwrap().hashed_password, apr1);
        assert!(matches!(
            authenticate(&users, "alice", &pw("wrong"), &policy),
            Err(Error::LoginRefused)
        ));
        let done = authenticate(&users, "alice", &pw("myPassword"), &policy).unwrap();
        assert!(matches!(
            done.rehash,
            Rehash::Upgraded {
                from: Scheme::Legacy(passwords::Legacy::Apr1),
                to: Scheme::Bcrypt { cost: 4 }
            }
        ));
        let new = users.get("alice").unwrap().unwrap().hashed_password;
        assert!(new.starts_with("$2b$04$"), "{new}");
        assert!(matches!(
            authenticate(&users, "alice", &pw("myPassword"), &refused)
                .unwrap()
                .rehash,
            Rehash::Kept
        ));
    }

    #[test]
    fn a_password_too_long_for_bcrypt_logs_in_without_a_rehash() {
        let dir = tempfile::tempdir().unwrap();
        let users = FileUsers::new(&dir.path().join("users.json"), Duration::from_secs(5));
        let long = "p".repeat(100);
        // As `htpasswd -B` makes it: bcrypt of the first 72 bytes.
        let old = passwords::hash(&pw(&long[..72]), &Scheme::Bcrypt { cost: 4 }).unwrap();
        users
            .add("bob", &mut || Ok(user("bob", old.clone())))
            .unwrap();
        let policy = HashPolicy {
            scheme: Scheme::Bcrypt { cost: 5 },
            rehash_on_login: true,
            allow_legacy: true,
            read_only: false,
        };
        let done = authenticate(&users, "bob", &pw(&long), &policy).unwrap();
        assert!(matches!(done.rehash, Rehash::Kept), "{:?}", done.rehash);
        assert_eq!(users.get("bob").unwrap().unwrap().hashed_password, old);
        // To argon2id it is rehashed, all 100 bytes of it.
        let to_argon = HashPolicy {
            scheme: SMALL,
            ..policy
        };
        let done = authenticate(&users, "bob", &pw(&long), &to_argon).unwrap();
        assert!(matches!(done.rehash, Rehash::Upgraded { .. }));
        let new = users.get("bob").unwrap().unwrap().hashed_password;
        assert!(passwords::verify(&pw(&long), &new).unwrap());
        assert!(!passwords::verify(&pw(&long[..72]), &new).unwrap());
    }
}
