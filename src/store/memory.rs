//! A revocation store in memory: the reference for the semantics every store must have, for
//! tests and for callers that check tokens against a fixed list.

use std::sync::Mutex;

use crate::error::{Result, Revoked};
use crate::store::revocations_file::Revocations;
use crate::store::{RevocationList, RevocationStore};

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
    fn check(
        &self,
        jti: Option<&str>,
        sub: Option<&str>,
        iat: Option<i64>,
    ) -> Result<Option<Revoked>> {
        Ok(self.with(|r| r.check(jti, sub, iat)))
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
