//! The users as forward-auth sees them: name, e-mail and whether they may sign in, kept in
//! memory and reloaded only when the users file changes (one `stat` per check), so `GET /auth`
//! never parses `users.json` per request (SPEC §7: `/auth` as fast as `/protected`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::error::Result;
use crate::store::UserStore;
use crate::store::file::stamp;

/// What the identity headers need of one user record.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// `full_name`.
    pub name: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// A disabled user is refused even with an unrevoked token.
    pub disabled: bool,
}

type Snapshot = (Option<[u64; 5]>, Arc<HashMap<String, Arc<Identity>>>);

/// The users file's identities, reloaded when the file's stamp changes.
pub struct Directory {
    path: PathBuf,
    /// Users on Redis: every lookup asks the store (one round trip), as other hosts change
    /// them with no file stamp to watch.
    remote: bool,
    cached: RwLock<Option<Snapshot>>,
}

impl Directory {
    /// A directory over the users file at `path` (read on first use).
    pub fn new(path: PathBuf) -> Self {
        Directory {
            remote: crate::store::redis::url_of(&path).is_some(),
            path,
            cached: RwLock::new(None),
        }
    }

    /// The identity of `name`, if it is a user.
    ///
    /// # Errors
    /// A store error when the users file changed and cannot be read.
    pub fn lookup(&self, users: &dyn UserStore, name: &str) -> Result<Option<Arc<Identity>>> {
        if self.remote {
            return Ok(users.get(name)?.map(|u| {
                Arc::new(Identity {
                    name: u.full_name,
                    email: u.email,
                    disabled: u.disabled,
                })
            }));
        }
        // The stamp is taken before the read: a change in between only causes one more
        // reload on the next request, never a stale answer that lasts.
        let now = std::fs::metadata(&self.path).ok().map(|m| stamp(&m));
        if let Ok(guard) = self.cached.read()
            && let Some((s, map)) = guard.as_ref()
            && *s == now
        {
            return Ok(map.get(name).cloned());
        }
        let map: HashMap<String, Arc<Identity>> = users
            .list()?
            .into_iter()
            .map(|u| {
                (
                    u.username,
                    Arc::new(Identity {
                        name: u.full_name,
                        email: u.email,
                        disabled: u.disabled,
                    }),
                )
            })
            .collect();
        let map = Arc::new(map);
        let found = map.get(name).cloned();
        if let Ok(mut guard) = self.cached.write() {
            *guard = Some((now, map));
        }
        Ok(found)
    }
}
