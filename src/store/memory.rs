//! Stores in memory: revocations (the reference for the semantics every store must have, for
//! tests and for callers that check tokens against a fixed list) and users (for `serve`'s
//! in-process tests: the file store's semantics without a file).

use crate::sessions::{Limits, Rules, Session};
use crate::store::Query;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result, Revoked};
use crate::passwords::Scheme;
use crate::store::revocations_file::Revocations;
use crate::store::{Imported, RevocationList, RevocationStore, UserStore, most_common_scheme};
use crate::users::{self, User, normalize_name};

/// Revocations and sessions kept in memory only.
#[derive(Debug)]
pub struct MemoryRevocations {
    state: Mutex<State>,
    /// The session rules of this process (SPEC §13): every check of a `sid` is judged by them.
    rules: Arc<Rules>,
}

/// What the store holds: the revocations and the sessions by `sid`.
#[derive(Debug, Default)]
struct State {
    r: Revocations,
    sessions: BTreeMap<String, Session>,
}

impl Default for MemoryRevocations {
    fn default() -> Self {
        MemoryRevocations::new(Revocations::default())
    }
}

impl MemoryRevocations {
    /// A store holding `r`, its sessions judged by the default limits.
    pub fn new(r: Revocations) -> Self {
        MemoryRevocations::with_rules(r, Arc::new(Rules::new(Limits::default(), false)))
    }

    /// A store holding `r`, its sessions judged by `rules` (shared with the front end).
    pub fn with_rules(r: Revocations, rules: Arc<Rules>) -> Self {
        MemoryRevocations {
            state: Mutex::new(State {
                r,
                sessions: BTreeMap::new(),
            }),
            rules,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Revocations) -> T) -> T {
        self.with_state(|s| f(&mut s.r))
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl State {
    /// Ends the live session `sid` at `now`: a tombstone, and its live tokens revoked where
    /// older versions look. Whether it was live.
    fn end(&mut self, sid: &str, now: i64) -> bool {
        let Some(s) = self.sessions.get_mut(sid) else {
            return false;
        };
        if s.ended_at.is_some() {
            return false;
        }
        s.ended_at = Some(now);
        for (jti, exp) in std::mem::take(&mut s.tokens) {
            if exp > now {
                self.r.tokens.insert(jti, exp);
            }
        }
        true
    }

    /// Drops every session whose absolute end is at or before `now`; how many.
    fn drop_past(&mut self, now: i64, max_age: i64) -> usize {
        let before = self.sessions.len();
        self.sessions
            .retain(|_, s| s.created_at.saturating_add(max_age) > now);
        before - self.sessions.len()
    }
}

impl RevocationStore for MemoryRevocations {
    fn check(&self, q: &Query<'_>) -> Result<Option<Revoked>> {
        let (revoked, times) = self.with_state(|s| {
            (
                s.r.check(q.jti, q.sub, q.iat),
                q.sid.map(|sid| s.sessions.get(sid).map(Session::times)),
            )
        });
        if revoked.is_some() {
            return Ok(revoked);
        }
        Ok(match (q.sid, times) {
            (Some(sid), Some(times)) => self.rules.judge(sid, times, q.now),
            _ => None,
        })
    }

    fn begin_session(&self, s: &Session, limits: &Limits, now: i64) -> Result<Vec<String>> {
        Ok(self.with_state(|st| {
            st.sessions.insert(s.sid.clone(), s.clone());
            // The user's live sessions, least recently used first: those beyond the limit end.
            let mut live: Vec<(i64, i64, String)> = st
                .sessions
                .values()
                .filter(|o| o.sub == s.sub && limits.over(Some(o.times()), i64::MIN, now).is_none())
                .map(|o| (o.last_used_at, o.created_at, o.sid.clone()))
                .collect();
            live.sort();
            let extra = live.len().saturating_sub(limits.max_per_user.max(1));
            let mut ended = Vec::new();
            for (_, _, sid) in live.into_iter().take(extra) {
                if sid != s.sid && st.end(&sid, now) {
                    ended.push(sid);
                }
            }
            st.drop_past(now, limits.max_age);
            st.r.prune(now);
            ended
        }))
    }

    fn session(&self, sid: &str) -> Result<Option<Session>> {
        Ok(self.with_state(|st| st.sessions.get(sid).cloned()))
    }

    fn sessions(&self, sub: Option<&str>) -> Result<Vec<Session>> {
        Ok(self.with_state(|st| {
            st.sessions
                .values()
                .filter(|s| sub.is_none_or(|u| s.sub == u))
                .cloned()
                .collect()
        }))
    }

    fn replace_session(&self, new: &Session, generation: u64) -> Result<bool> {
        Ok(self.with_state(|st| {
            let Some(old) = st.sessions.get_mut(&new.sid) else {
                return false;
            };
            if old.ended_at.is_some()
                || old.refresh.as_ref().map(|r| r.generation) != Some(generation)
            {
                return false;
            }
            *old = new.clone();
            true
        }))
    }

    fn end_sessions(&self, sids: &[&str], now: i64) -> Result<Vec<String>> {
        Ok(self.with_state(|st| {
            sids.iter()
                .filter(|sid| st.end(sid, now))
                .map(|sid| sid.to_string())
                .collect()
        }))
    }

    fn end_user_sessions(&self, sub: &str, keep: Option<&str>, now: i64) -> Result<Vec<String>> {
        Ok(self.with_state(|st| {
            let sids: Vec<String> = st
                .sessions
                .values()
                .filter(|s| s.sub == sub && s.ended_at.is_none() && Some(s.sid.as_str()) != keep)
                .map(|s| s.sid.clone())
                .collect();
            sids.into_iter().filter(|sid| st.end(sid, now)).collect()
        }))
    }

    fn touch_sessions(&self, uses: &[(String, i64)]) -> Result<()> {
        self.with_state(|st| {
            for (sid, at) in uses {
                if let Some(s) = st.sessions.get_mut(sid) {
                    s.last_used_at = s.last_used_at.max(*at);
                }
            }
        });
        Ok(())
    }

    fn prune_sessions(&self, now: i64, max_age: i64) -> Result<usize> {
        Ok(self.with_state(|st| st.drop_past(now, max_age)))
    }

    fn import_sessions(&self, sessions: &[Session]) -> Result<()> {
        self.with_state(|st| {
            for s in sessions {
                st.sessions
                    .entry(s.sid.clone())
                    .or_insert_with(|| s.clone());
            }
        });
        Ok(())
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

    fn session(sid: &str, sub: &str, at: i64) -> Session {
        Session {
            sid: sid.into(),
            sub: sub.into(),
            created_at: at,
            last_used_at: at,
            client: crate::sessions::Client::Cli,
            amr: vec!["pwd".into()],
            issue: crate::sessions::Issue::default(),
            refresh: Some(crate::sessions::Refresh {
                generation: 0,
                hash: "h0".into(),
                rotated_at: at,
            }),
            tokens: [(format!("jti-{sid}"), at + 900)].into_iter().collect(),
            ended_at: None,
        }
    }

    fn q(sid: &str, now: i64) -> Query<'_> {
        Query {
            jti: None,
            sub: Some("alice"),
            iat: Some(now),
            sid: Some(sid),
            now,
        }
    }

    #[test]
    fn memory_sessions_keep_the_store_rules() {
        let limits = Limits {
            max_age: 1000,
            idle: 100,
            max_per_user: 2,
            reuse_grace: 0,
        };
        let s = MemoryRevocations::with_rules(
            Revocations::default(),
            Arc::new(Rules::new(limits, false)),
        );
        let t = 10_000;
        assert!(
            s.begin_session(&session("a", "alice", t), &limits, t)
                .unwrap()
                .is_empty()
        );
        // Known and live; unknown is refused as revoked; idle and old are expiries.
        assert_eq!(s.check(&q("a", t + 10)).unwrap(), None);
        assert_eq!(s.check(&q("zz", t + 10)).unwrap(), Some(Revoked::Session));
        assert_eq!(
            s.check(&q("a", t + 100)).unwrap(),
            Some(Revoked::SessionExpired { at: t + 100 })
        );
        s.touch_sessions(&[("a".into(), t + 90), ("zz".into(), t)])
            .unwrap();
        s.touch_sessions(&[("a".into(), t + 50)]).unwrap();
        assert_eq!(s.session("a").unwrap().unwrap().last_used_at, t + 90);
        assert_eq!(s.check(&q("a", t + 100)).unwrap(), None);
        // The limit per user ends the least recently used one (another user's do not count).
        s.begin_session(&session("b", "alice", t + 95), &limits, t + 95)
            .unwrap();
        s.begin_session(&session("x", "bob", t + 95), &limits, t + 95)
            .unwrap();
        let ended = s
            .begin_session(&session("c", "alice", t + 96), &limits, t + 96)
            .unwrap();
        assert_eq!(ended, ["a"]);
        assert_eq!(s.check(&q("a", t + 97)).unwrap(), Some(Revoked::Session));
        // Ending revokes its tokens where older versions look.
        assert_eq!(s.list().unwrap().tokens, [("jti-a".to_string(), t + 900)]);
        // The compare-and-set: the stored generation must match, and the session be live.
        let mut next = session("b", "alice", t + 95);
        next.refresh.as_mut().unwrap().generation = 1;
        assert!(!s.replace_session(&next, 1).unwrap());
        assert!(s.replace_session(&next, 0).unwrap());
        assert!(!s.replace_session(&next, 0).unwrap());
        assert!(!s.replace_session(&session("a", "alice", t), 0).unwrap());
        assert!(!s.replace_session(&session("new", "alice", t), 0).unwrap());
        // end_sessions answers the live ones only; end_user_sessions keeps one.
        assert_eq!(s.end_sessions(&["a", "zz", "b"], t + 98).unwrap(), ["b"]);
        s.begin_session(&session("d", "alice", t + 99), &limits, t + 99)
            .unwrap();
        assert_eq!(
            s.end_user_sessions("alice", Some("d"), t + 99).unwrap(),
            ["c"]
        );
        assert_eq!(s.sessions(Some("alice")).unwrap().len(), 4);
        assert_eq!(s.sessions(None).unwrap().len(), 5);
        // Import keeps what is here; prune drops those past their absolute end.
        let mut other = session("d", "carol", 1);
        other.ended_at = Some(2);
        s.import_sessions(&[other, session("e", "carol", t + 500)])
            .unwrap();
        assert_eq!(s.session("d").unwrap().unwrap().sub, "alice");
        assert_eq!(s.prune_sessions(t + 1096, 1000).unwrap(), 4);
        assert!(s.session("a").unwrap().is_none());
        assert!(s.session("e").unwrap().is_some());
        // A session past its absolute end is dropped on any new session too.
        s.begin_session(&session("f", "dave", t + 1500), &limits, t + 1500)
            .unwrap();
        assert!(s.session("e").unwrap().is_none());
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
