//! Stores in memory: revocations (the reference for the semantics every store must have, for
//! tests and for callers that check tokens against a fixed list) and users (for `serve`'s
//! in-process tests: the file store's semantics without a file).

use crate::sessions::{Limits, Session};
use crate::store::Query;
use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::error::{Error, Result, Revoked};
use crate::passwords::Scheme;
use crate::store::revocations_file::Revocations;
use crate::store::{Imported, RevocationList, RevocationStore, UserStore, most_common_scheme};
use crate::users::{self, User, normalize_name};

/// Revocations kept in memory only.
#[derive(Debug, Default)]
pub struct MemoryRevocations {
    state: Mutex<Revocations>,
}

impl MemoryRevocations {
    /// A store holding `r`.
    pub fn new(r: Revocations) -> Self {
        MemoryRevocations {
            state: Mutex::new(r),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Revocations) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl RevocationStore for MemoryRevocations {
    fn check(&self, q: &Query<'_>) -> Result<Option<Revoked>> {
        // SESSIONS-TODO: q.sid
        Ok(self.with(|r| r.check(q.jti, q.sub, q.iat)))
    }

    // SESSIONS-TODO: the session operations of this store (SPEC §13).
    fn begin_session(&self, _s: &Session, _limits: &Limits, _now: i64) -> Result<Vec<String>> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn session(&self, _sid: &str) -> Result<Option<Session>> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn sessions(&self, _sub: Option<&str>) -> Result<Vec<Session>> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn replace_session(&self, _new: &Session, _generation: u64) -> Result<bool> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn end_sessions(&self, _sids: &[&str], _now: i64) -> Result<Vec<String>> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn end_user_sessions(&self, _sub: &str, _keep: Option<&str>, _now: i64) -> Result<Vec<String>> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn touch_sessions(&self, _uses: &[(String, i64)]) -> Result<()> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn prune_sessions(&self, _now: i64, _max_age: i64) -> Result<usize> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn import_sessions(&self, _sessions: &[Session]) -> Result<()> {
        Err(Error::internal("sessions", "not built yet"))
    }

    fn subject_revoked_at(&self, sub: &str) -> Result<Option<i64>> {
        Ok(self.with(|r| r.users.get(sub).copied()))
    }

    fn revoke_token(&self, jti: &str, exp: i64, now: i64) -> Result<()> {
        self.with(|r| {
            r.tokens.insert(jti.to_string(), exp);
            r.prune(now);
        });
        Ok(())
    }

    fn revoke_subjects(&self, subs: &[&str], at: i64, now: i64) -> Result<()> {
        self.with(|r| {
            for sub in subs {
                r.revoke_subject(sub, at);
            }
            r.prune(now);
        });
        Ok(())
    }

    fn list(&self) -> Result<RevocationList> {
        Ok(self.with(|r| RevocationList {
            tokens: r.tokens.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            users: r.users.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        }))
    }

    fn prune(&self, now: i64) -> Result<usize> {
        Ok(self.with(|r| r.prune(now)))
    }
}

/// Users kept in memory only, by name (in NFC, as the other stores look names up).
#[derive(Debug, Default)]
pub struct MemoryUsers {
    users: Mutex<BTreeMap<String, User>>,
}

impl MemoryUsers {
    /// An empty store.
    pub fn new() -> Self {
        MemoryUsers::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, User>) -> T) -> T {
        f(&mut self.users.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl UserStore for MemoryUsers {
    fn get(&self, name: &str) -> Result<Option<User>> {
        Ok(self.with(|u| u.get(normalize_name(name).as_ref()).cloned()))
    }

    fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.with(|u| u.contains_key(normalize_name(name).as_ref())))
    }

    fn add(&self, name: &str, make: &mut dyn FnMut() -> Result<User>) -> Result<User> {
        let user = make()?;
        let name = normalize_name(name).into_owned();
        self.with(|all| {
            if all.contains_key(&name) {
                return Err(Error::UserExists(name.clone()));
            }
            if let Some(existing) = users::confusable_with(&name, all.keys().map(String::as_str)) {
                return Err(Error::UserConfusable {
                    name: name.clone(),
                    existing: existing.to_string(),
                });
            }
            all.insert(name.clone(), user.clone());
            Ok(user)
        })
    }

    fn update(&self, name: &str, change: &mut dyn FnMut(&mut User) -> Result<()>) -> Result<User> {
        let name = normalize_name(name);
        self.with(|all| {
            let Some(stored) = all.get_mut(name.as_ref()) else {
                return Err(Error::UserNotFound(name.to_string()));
            };
            // Changed on a copy: a change that fails leaves the record as it was.
            let mut u = stored.clone();
            change(&mut u)?;
            *stored = u.clone();
            Ok(u)
        })
    }

    fn remove(&self, name: &str) -> Result<User> {
        let name = normalize_name(name);
        self.with(|all| {
            all.remove(name.as_ref())
                .ok_or_else(|| Error::UserNotFound(name.to_string()))
        })
    }

    fn list(&self) -> Result<Vec<User>> {
        Ok(self.with(|all| all.values().cloned().collect()))
    }

    fn import(&self, incoming: Vec<User>, replace: bool) -> Result<Imported> {
        let mut done = Imported::default();
        self.with(|all| {
            let mut skeletons = users::Skeletons::new(all.keys().map(String::as_str));
            for new in incoming {
                let name = normalize_name(&new.username).into_owned();
                let stored = all.get(&name).cloned();
                let Some(user) = done.merge(stored, new, replace, &mut skeletons) else {
                    continue;
                };
                all.insert(name, user);
            }
        });
        Ok(done)
    }

    fn typical_scheme(&self) -> Result<Option<Scheme>> {
        Ok(self.with(|all| most_common_scheme(all.values().map(|u| u.hashed_password.as_str()))))
    }

    fn location(&self) -> String {
        "memory".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, hash: &str) -> User {
        User {
            username: name.into(),
            full_name: None,
            email: None,
            hashed_password: hash.into(),
            disabled: false,
            created_at: 1,
            password_changed_at: 1,
            groups: Vec::new(),
        }
    }

    #[test]
    fn memory_users_keep_the_store_rules() {
        let s = MemoryUsers::new();
        s.add("alice", &mut || Ok(user("alice", "h"))).unwrap();
        // The same name, a look-alike (Cyrillic а), and an unknown user's change: refused.
        assert!(matches!(
            s.add("alice", &mut || Ok(user("alice", "h"))),
            Err(Error::UserExists(_))
        ));
        assert!(matches!(
            s.add("\u{430}lice", &mut || Ok(user("\u{430}lice", "h"))),
            Err(Error::UserConfusable { .. })
        ));
        assert!(matches!(
            s.update("bob", &mut |_| Ok(())),
            Err(Error::UserNotFound(_))
        ));
        // A failed change leaves the record alone.
        let failed = s.update("alice", &mut |u| {
            u.disabled = true;
            Err(Error::UserNotFound("x".into()))
        });
        assert!(failed.is_err());
        assert!(!s.get("alice").unwrap().unwrap().disabled);
        s.update("alice", &mut |u| {
            u.groups.push("admins".into());
            Ok(())
        })
        .unwrap();
        assert_eq!(s.get("alice").unwrap().unwrap().groups, ["admins"]);
        // Import keeps or replaces, and skips look-alikes.
        let done = s
            .import(vec![user("alice", "h2"), user("carol", "h")], false)
            .unwrap();
        assert_eq!(
            (done.kept, done.added),
            (vec!["alice".into()], vec!["carol".into()])
        );
        assert_eq!(s.list().unwrap().len(), 2);
        assert_eq!(s.remove("carol").unwrap().username, "carol");
        assert!(!s.exists("carol").unwrap());
    }
}
