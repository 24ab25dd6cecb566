//! `RedisRevocations`: the revocation store on Redis (SPEC §10), shared by every host, with
//! the sessions of SPEC §13.
//!
//! Keys (under the prefix):
//! - `jti:<jti>` — a revoked token, value its `exp`, written `SET … <exp> EXAT <exp> NX`: Redis
//!   drops it when the token would have expired anyway, so nothing ever needs pruning.
//! - `sub:<sub>` — "every token of `sub` issued up to this time is revoked"; moved only forward
//!   by a Lua script (`FORWARD`), so two hosts revoking at once keep the later time.
//! - `sid:<sid>` — a session's times, what a check needs: `"<created_at> <last_used_at>"`, or
//!   `"<created_at> <last_used_at> <ended_at>"` once ended (a tombstone). A plain string, so a
//!   check reads it in the same `MGET` as the token's `jti:` and `sub:` keys.
//! - `session:<sid>` — a hash: `record` (the session's JSON, [`sessions::Record`], whose times
//!   `sid:` overrides), `sub`, `gen` (the refresh generation, empty without refresh tokens) and
//!   `tokens` (its tokens' `[["<jti>","<exp>"],…]`, for the script that ends it).
//! - `sessions:<sub>` — a sorted set of the user's sids, scored by each one's absolute end, so
//!   members whose keys have expired are dropped by score (and by a look at `sid:`) on each
//!   write; it expires with its last member.
//!
//! Every session key expires at the session's absolute end (`created_at + session_max_age` as
//! configured when it began: `EXPIREAT`/`EXAT`); later writes keep the TTL (`KEEPTTL`, `HSET`
//! on the existing hash). Each operation that reads then writes is one Lua script (atomic:
//! spending a refresh token is a compare-and-set on `gen`). Ending a session writes the
//! tombstone and the `jti:` key of each of its live tokens exactly as `revoke_token` does, so a
//! version that knows no sessions refuses them too. The scripts build the keys of a user's
//! sessions from the prefix: a standalone Redis (or one primary), as the rest of this store.
//!
//! A check is one `MGET` of the token's keys. A stream of checks (`verify -`) asks about the
//! tokens it has read ahead and verified in one [`RevocationStore::check_many`]: one `MGET`
//! of up to `CHECK_KEYS` keys (`jti:`, `sub:` and `sid:` of every token). Nothing is cached:
//! every answer is Redis's at the time asked; a session's times are judged by
//! [`sessions::Rules::judge`].

use crate::error::{Error, Result, Revoked, StoreError};
use crate::sessions::{self, Limits, Session, Times};
use crate::store::redis::Redis;
use crate::store::{Query, RevocationList, RevocationStore};

/// Moves `KEYS[i]` forward to `ARGV[1]`, never back.
const FORWARD: &str = r"
local at = tonumber(ARGV[1])
for _, k in ipairs(KEYS) do
  local cur = tonumber(redis.call('GET', k))
  if cur == nil or cur < at then redis.call('SET', k, ARGV[1]) end
end
return 0";

/// What every session script shares: `ARGV[1]` is the prefix, `ARGV[2]` the time (unix s).
/// Times stay strings as given (never through Lua's floats) except to be compared.
const SESSION_LUA: &str = r"
local P = ARGV[1]
local NOW_S = ARGV[2]
local NOW = tonumber(NOW_S)
-- A session's times: created, last used, ended ('' if not), as strings; nil if unknown.
local function times(sid)
  local t = redis.call('GET', P .. 'sid:' .. sid)
  if not t then return nil end
  local c, l, e = string.match(t, '^(%-?%d+) (%-?%d+) ?(%-?%d*)$')
  if not c then error('unreadable session times under ' .. P .. 'sid:' .. sid) end
  return c, l, e
end
-- Ends a live session: the tombstone, and its live tokens revoked where older versions look.
local function end_one(sid)
  local c, l, e = times(sid)
  if c == nil or e ~= '' then return false end
  redis.call('SET', P .. 'sid:' .. sid, c .. ' ' .. l .. ' ' .. NOW_S, 'KEEPTTL')
  local toks = redis.call('HGET', P .. 'session:' .. sid, 'tokens')
  if toks then
    for _, p in ipairs(cjson.decode(toks)) do
      if tonumber(p[2]) > NOW then
        redis.call('SET', P .. 'jti:' .. p[1], p[2], 'EXAT', p[2], 'NX')
      end
    end
  end
  return true
end
-- The sids of a user's set whose keys are still there; the others are dropped from it.
local function members(z)
  redis.call('ZREMRANGEBYSCORE', z, '-inf', NOW_S)
  local out = {}
  for _, s in ipairs(redis.call('ZRANGE', z, 0, -1)) do
    if redis.call('EXISTS', P .. 'sid:' .. s) == 1 then
      out[#out + 1] = s
    else
      redis.call('ZREM', z, s)
    end
  end
  return out
end
-- The user's set expires with its last member.
local function expire_set(z)
  local top = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('EXPIREAT', z, top[2]) end
end
-- Writes a session's keys (all expiring at END_S); false if the sid is taken or it is over.
local function write(sid, sub, record, gen, tokens, t, end_s)
  local h, tk = P .. 'session:' .. sid, P .. 'sid:' .. sid
  if redis.call('EXISTS', tk) == 1 or redis.call('EXISTS', h) == 1 then return false end
  if tonumber(end_s) <= NOW then return false end
  redis.call('HSET', h, 'record', record, 'sub', sub, 'gen', gen, 'tokens', tokens)
  redis.call('EXPIREAT', h, end_s)
  redis.call('SET', tk, t, 'EXAT', end_s)
  local z = P .. 'sessions:' .. sub
  redis.call('ZADD', z, end_s, sid)
  expire_set(z)
  return true
end
";

/// `begin_session`. ARGV: prefix, now, sid, sub, record, gen, tokens, created, last used,
/// absolute end, max per user. Returns the sids ended for the limit (least recently used
/// first); an error reply if the sid is taken.
const BEGIN: &str = r"
local sid, sub = ARGV[3], ARGV[4]
if redis.call('EXISTS', P .. 'sid:' .. sid) == 1 or redis.call('EXISTS', P .. 'session:' .. sid) == 1 then
  return redis.error_reply('session id already in use')
end
-- A session already past its absolute end is not written, and ends no other.
if not write(sid, sub, ARGV[5], ARGV[6], ARGV[7], ARGV[8] .. ' ' .. ARGV[9], ARGV[10]) then
  return {}
end
local z = P .. 'sessions:' .. sub
local live = {}
for _, s in ipairs(members(z)) do
  local c, l, e = times(s)
  if s ~= sid and e == '' then live[#live + 1] = {s, tonumber(l), tonumber(c)} end
end
local over = math.min(#live + 1 - tonumber(ARGV[11]), #live)
local ended = {}
if over > 0 then
  table.sort(live, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    if a[3] ~= b[3] then return a[3] < b[3] end
    return a[1] < b[1]
  end)
  for i = 1, over do
    if end_one(live[i][1]) then ended[#ended + 1] = live[i][1] end
  end
end
expire_set(z)
return ended";

/// `replace_session`: the compare-and-set. ARGV: prefix, now, sid, expected generation,
/// record, gen, tokens, last used. Returns 1 if replaced.
const REPLACE: &str = r"
local sid = ARGV[3]
local c, l, e = times(sid)
if c == nil or e ~= '' then return 0 end
local h = P .. 'session:' .. sid
if redis.call('HGET', h, 'gen') ~= ARGV[4] then return 0 end
redis.call('HSET', h, 'record', ARGV[5], 'gen', ARGV[6], 'tokens', ARGV[7])
if tonumber(ARGV[8]) > tonumber(l) then
  redis.call('SET', P .. 'sid:' .. sid, c .. ' ' .. ARGV[8], 'KEEPTTL')
end
return 1";

/// `end_sessions`. ARGV: prefix, now, sids… Returns the sids that were live.
const END: &str = r"
local out = {}
for i = 3, #ARGV do
  if end_one(ARGV[i]) then out[#out + 1] = ARGV[i] end
end
return out";

/// `end_user_sessions`. ARGV: prefix, now, sub[, the sid to keep]. Returns the sids ended.
const END_USER: &str = r"
local out = {}
for _, s in ipairs(members(P .. 'sessions:' .. ARGV[3])) do
  if s ~= ARGV[4] and end_one(s) then out[#out + 1] = s end
end
return out";

/// `touch_sessions`. ARGV: prefix, now, then (sid, time) pairs: raises each live session's
/// last use, never lowers it.
const TOUCH: &str = r"
for i = 3, #ARGV - 1, 2 do
  local c, l, e = times(ARGV[i])
  if c ~= nil and e == '' and tonumber(ARGV[i + 1]) > tonumber(l) then
    redis.call('SET', P .. 'sid:' .. ARGV[i], c .. ' ' .. ARGV[i + 1], 'KEEPTTL')
  end
end
return 0";

/// `import_sessions`, one session. ARGV: prefix, now, sid, sub, record, gen, tokens, times,
/// absolute end. Returns 1 if written (0: the sid is here already, or it is over).
const IMPORT: &str = r"
if write(ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]) then return 1 end
return 0";

/// `prune_sessions`. KEYS: users' sets. ARGV: prefix, now. Returns the members dropped.
const PRUNE: &str = r"
local n = 0
for _, z in ipairs(KEYS) do
  n = n + redis.call('ZREMRANGEBYSCORE', z, '-inf', NOW_S)
  for _, s in ipairs(redis.call('ZRANGE', z, 0, -1)) do
    if redis.call('EXISTS', P .. 'sid:' .. s) == 0 then
      redis.call('ZREM', z, s)
      n = n + 1
    end
  end
end
return n";

/// Keys per `MGET` (and commands per pipeline) when many are asked or written at once.
pub const MGET_KEYS: usize = 2048;

/// Keys per `MGET` of [`RevocationStore::check_many`]: the `jti:`, `sub:` and `sid:` of each
/// of the 1,024 tokens `verify -` reads ahead, so a group is one round trip.
pub const CHECK_KEYS: usize = 3 * 1024;

/// The session scripts.
struct Scripts {
    begin: redis::Script,
    replace: redis::Script,
    end: redis::Script,
    end_user: redis::Script,
    touch: redis::Script,
    /// `IMPORT`'s text: pipelined as `EVAL` (many sessions, one round trip per chunk).
    import: String,
    prune: redis::Script,
}

impl Scripts {
    fn new() -> Self {
        let s = |body: &str| redis::Script::new(&format!("{SESSION_LUA}{body}"));
        Scripts {
            begin: s(BEGIN),
            replace: s(REPLACE),
            end: s(END),
            end_user: s(END_USER),
            touch: s(TOUCH),
            import: format!("{SESSION_LUA}{IMPORT}"),
            prune: s(PRUNE),
        }
    }
}

/// Revocations and sessions in Redis.
pub struct RedisRevocations {
    redis: Redis,
    forward: redis::Script,
    scripts: Scripts,
    /// The session rules checks are judged by.
    rules: std::sync::Arc<sessions::Rules>,
}

/// A session's fields as the scripts take them: generation (empty without refresh tokens) and
/// tokens (`[["<jti>","<exp>"],…]`).
fn script_fields(s: &Session) -> (String, String) {
    let generation = s
        .refresh
        .as_ref()
        .map_or_else(String::new, |r| r.generation.to_string());
    let tokens: Vec<(&str, String)> = s
        .tokens
        .iter()
        .map(|(jti, exp)| (jti.as_str(), exp.to_string()))
        .collect();
    // Serializing strings cannot fail.
    let tokens = serde_json::to_string(&tokens).unwrap_or_else(|_| "[]".to_string());
    (generation, tokens)
}

/// A `sid:` value as written: `"<created> <last used>"`, then `" <ended>"` if ended.
fn times_text(s: &Session) -> String {
    match s.ended_at {
        Some(e) => format!("{} {} {e}", s.created_at, s.last_used_at),
        None => format!("{} {}", s.created_at, s.last_used_at),
    }
}

/// Reads a `sid:` value; `None` if it is not one.
fn parse_times(v: &[u8]) -> Option<(Times, Option<i64>)> {
    let text = std::str::from_utf8(v).ok()?;
    let mut parts = text.split(' ');
    let created_at = parts.next()?.parse().ok()?;
    let last_used_at = parts.next()?.parse().ok()?;
    let ended_at = match parts.next() {
        Some(e) => Some(e.parse().ok()?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((
        Times {
            created_at,
            last_used_at,
            ended: ended_at.is_some(),
        },
        ended_at,
    ))
}

/// The bytes of a string reply; `None` for nil.
fn bytes_of(v: &redis::Value) -> std::result::Result<Option<&[u8]>, &'static str> {
    match v {
        redis::Value::Nil => Ok(None),
        redis::Value::BulkString(b) => Ok(Some(b)),
        redis::Value::SimpleString(s) => Ok(Some(s.as_bytes())),
        _ => Err("not a string"),
    }
}

impl RedisRevocations {
    /// The store on `redis`; `rules` judge the sessions of checked tokens.
    pub fn new(redis: Redis, rules: std::sync::Arc<sessions::Rules>) -> Self {
        RedisRevocations {
            redis,
            forward: redis::Script::new(FORWARD),
            scripts: Scripts::new(),
            rules,
        }
    }

    fn jti_key(&self, jti: &str) -> String {
        self.redis.key(&["jti:", jti])
    }

    fn sub_key(&self, sub: &str) -> String {
        self.redis.key(&["sub:", sub])
    }

    /// Answers one query from its values, in key order (`jti:`, `sub:`, `sid:`, those it has).
    fn answer(
        &self,
        q: &Query<'_>,
        values: &mut impl Iterator<Item = redis::Value>,
    ) -> Result<Option<Revoked>> {
        let short = || {
            Error::Store(StoreError::Remote {
                location: self.redis.location().to_string(),
                why: "MGET answered fewer values than keys asked".to_string(),
            })
        };
        let revoked = match q.jti {
            Some(j) => {
                let v = values.next().ok_or_else(short)?;
                bytes_of(&v)
                    .map_err(|why| self.redis.corrupt(&self.jti_key(j), why))?
                    .is_some()
            }
            None => false,
        };
        let at = match q.sub {
            Some(s) => {
                let v = values.next().ok_or_else(short)?;
                let bad = |why| self.redis.corrupt(&self.sub_key(s), why);
                match bytes_of(&v).map_err(bad)? {
                    Some(b) => Some(
                        std::str::from_utf8(b)
                            .ok()
                            .and_then(|t| t.parse::<i64>().ok())
                            .ok_or_else(|| bad("not a number"))?,
                    ),
                    None => None,
                }
            }
            None => None,
        };
        let times = match q.sid {
            Some(sid) => {
                let v = values.next().ok_or_else(short)?;
                let bad = |why| self.redis.corrupt(&self.redis.key(&["sid:", sid]), why);
                match bytes_of(&v).map_err(bad)? {
                    Some(b) => Some(parse_times(b).ok_or_else(|| bad("not session times"))?.0),
                    None => None,
                }
            }
            None => None,
        };
        if let Some(r) = verdict(revoked, q.sub, at, q.iat) {
            return Ok(Some(r));
        }
        // Judged last: a token refused for itself or its user is not a use of its session.
        Ok(q.sid.and_then(|sid| self.rules.judge(sid, times, q.now)))
    }

    /// Reads the sessions `sids` (those still there), a pipeline per `MGET_KEYS`.
    fn read_sessions(&self, sids: &[String]) -> Result<Vec<Session>> {
        let mut out = Vec::with_capacity(sids.len());
        for chunk in sids.chunks(MGET_KEYS / 2) {
            let got: Vec<(Option<String>, Option<Vec<u8>>)> = self.redis.with(|c| {
                let mut p = redis::pipe();
                p.atomic();
                for sid in chunk {
                    p.cmd("HGET")
                        .arg(self.redis.key(&["session:", sid]))
                        .arg("record");
                    p.cmd("GET").arg(self.redis.key(&["sid:", sid]));
                }
                let flat: Vec<redis::Value> = p.query(c)?;
                let mut pairs = Vec::with_capacity(chunk.len());
                let mut it = flat.into_iter();
                while let (Some(r), Some(t)) = (it.next(), it.next()) {
                    pairs.push((
                        redis::from_redis_value::<Option<String>>(r)?,
                        redis::from_redis_value::<Option<Vec<u8>>>(t)?,
                    ));
                }
                Ok(pairs)
            })?;
            for (sid, (record, times)) in chunk.iter().zip(got) {
                // Both keys expire together; one without the other is a session going.
                let (Some(record), Some(times)) = (record, times) else {
                    continue;
                };
                let key = self.redis.key(&["session:", sid]);
                let mut s = sessions::Record::parse(sid, &record)
                    .map_err(|e| self.redis.corrupt(&key, e))?
                    .session;
                let (t, ended_at) = parse_times(&times).ok_or_else(|| {
                    self.redis
                        .corrupt(&self.redis.key(&["sid:", sid]), "not session times")
                })?;
                s.created_at = t.created_at;
                s.last_used_at = s.last_used_at.max(t.last_used_at);
                s.ended_at = ended_at;
                out.push(s);
            }
        }
        Ok(out)
    }

    fn scan_keys(&self, pattern: &str) -> Result<Vec<String>> {
        self.redis.with(|c| {
            let mut out = Vec::new();
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(c)?;
                out.extend(batch);
                if next == 0 {
                    return Ok(out);
                }
                cursor = next;
            }
        })
    }

    fn scan(&self, pattern: &str) -> Result<Vec<(String, Option<i64>)>> {
        let keys = self.scan_keys(pattern)?;
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MGET_KEYS) {
            let values: Vec<Option<i64>> = self
                .redis
                .with(|c| redis::cmd("MGET").arg(chunk).query(c))?;
            out.extend(chunk.iter().cloned().zip(values));
        }
        Ok(out)
    }

    /// Invokes a session script with the prefix and `now` as its first arguments.
    fn run<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        now: i64,
        keys: &[String],
        args: &[&str],
    ) -> Result<T> {
        self.redis.with(|c| {
            let mut inv = script.prepare_invoke();
            for k in keys {
                inv.key(k);
            }
            inv.arg(&self.redis.prefix).arg(now);
            for a in args {
                inv.arg(*a);
            }
            inv.invoke(c)
        })
    }
}

impl RevocationStore for RedisRevocations {
    fn check(&self, q: &Query<'_>) -> Result<Option<Revoked>> {
        let mut keys = Vec::with_capacity(3);
        if let Some(j) = q.jti {
            keys.push(self.jti_key(j));
        }
        if let Some(s) = q.sub {
            keys.push(self.sub_key(s));
        }
        if let Some(s) = q.sid {
            keys.push(self.redis.key(&["sid:", s]));
        }
        if keys.is_empty() {
            return Ok(None);
        }
        let values: Vec<redis::Value> = self
            .redis
            .with(|c| redis::cmd("MGET").arg(&keys).query(c))?;
        self.answer(q, &mut values.into_iter())
    }

    fn begin_session(&self, s: &Session, limits: &Limits, now: i64) -> Result<Vec<String>> {
        let (generation, tokens) = script_fields(s);
        let end = limits.absolute_end(s.created_at).to_string();
        self.run(
            &self.scripts.begin,
            now,
            &[],
            &[
                &s.sid,
                &s.sub,
                &s.to_json(),
                &generation,
                &tokens,
                &s.created_at.to_string(),
                &s.last_used_at.to_string(),
                &end,
                &limits.max_per_user.to_string(),
            ],
        )
    }

    fn session(&self, sid: &str) -> Result<Option<Session>> {
        Ok(self.read_sessions(&[sid.to_string()])?.pop())
    }

    fn sessions(&self, sub: Option<&str>) -> Result<Vec<Session>> {
        let sids: Vec<String> = match sub {
            Some(sub) => {
                let key = self.redis.key(&["sessions:", sub]);
                self.redis
                    .with(|c| redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).query(c))?
            }
            None => {
                let glob = glob_escape(&self.redis.prefix);
                let strip = self.redis.key(&["session:"]);
                self.scan_keys(&format!("{glob}session:*"))?
                    .into_iter()
                    .filter_map(|k| k.strip_prefix(&strip).map(str::to_string))
                    .collect()
            }
        };
        let mut out = self.read_sessions(&sids)?;
        if let Some(sub) = sub {
            out.retain(|s| s.sub == sub);
        }
        Ok(out)
    }

    fn replace_session(&self, new: &Session, generation: u64) -> Result<bool> {
        let (new_generation, tokens) = script_fields(new);
        let replaced: i64 = self.run(
            &self.scripts.replace,
            0,
            &[],
            &[
                &new.sid,
                &generation.to_string(),
                &new.to_json(),
                &new_generation,
                &tokens,
                &new.last_used_at.to_string(),
            ],
        )?;
        Ok(replaced == 1)
    }

    fn end_sessions(&self, sids: &[&str], now: i64) -> Result<Vec<String>> {
        if sids.is_empty() {
            return Ok(Vec::new());
        }
        self.run(&self.scripts.end, now, &[], sids)
    }

    fn end_user_sessions(&self, sub: &str, keep: Option<&str>, now: i64) -> Result<Vec<String>> {
        let mut args = vec![sub];
        args.extend(keep);
        self.run(&self.scripts.end_user, now, &[], &args)
    }

    fn touch_sessions(&self, uses: &[(String, i64)]) -> Result<()> {
        for chunk in uses.chunks(MGET_KEYS) {
            let times: Vec<String> = chunk.iter().map(|(_, t)| t.to_string()).collect();
            let mut args = Vec::with_capacity(chunk.len() * 2);
            for ((sid, _), t) in chunk.iter().zip(&times) {
                args.push(sid.as_str());
                args.push(t.as_str());
            }
            self.run::<()>(&self.scripts.touch, 0, &[], &args)?;
        }
        Ok(())
    }

    fn prune_sessions(&self, now: i64, _max_age: i64) -> Result<usize> {
        // Every session key expires at the session's absolute end: Redis drops them itself.
        // What is left is the users' sets' members whose keys are gone.
        let glob = glob_escape(&self.redis.prefix);
        let sets = self.scan_keys(&format!("{glob}sessions:*"))?;
        let mut n = 0;
        for chunk in sets.chunks(MGET_KEYS) {
            let dropped: i64 = self.run(&self.scripts.prune, now, chunk, &[])?;
            n += usize::try_from(dropped).unwrap_or(0);
        }
        Ok(n)
    }

    fn import_sessions(&self, sessions: &[Session]) -> Result<()> {
        // The keys expire at each session's absolute end under the current `session_max_age`
        // (the configuration `migrate` runs with).
        let limits = self.rules.limits();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        for chunk in sessions.chunks(MGET_KEYS / 8) {
            self.redis.with(|c| {
                let mut p = redis::pipe();
                for s in chunk {
                    let (generation, tokens) = script_fields(s);
                    p.cmd("EVAL")
                        .arg(&self.scripts.import)
                        .arg(0)
                        .arg(&self.redis.prefix)
                        .arg(now)
                        .arg(&s.sid)
                        .arg(&s.sub)
                        .arg(s.to_json())
                        .arg(generation)
                        .arg(tokens)
                        .arg(times_text(s))
                        .arg(limits.absolute_end(s.created_at))
                        .ignore();
                }
                p.query::<()>(c)
            })?;
        }
        Ok(())
    }

    fn check_many(&self, queries: &[Query<'_>], answers: &mut Vec<Option<Revoked>>) -> Result<()> {
        answers.clear();
        // The keys in query order: `jti:`, `sub:` then `sid:` of each query, those it has.
        let mut keys = queries.iter().flat_map(|q| {
            let jti = q.jti.map(|j| ("jti:", j));
            let sub = q.sub.map(|s| ("sub:", s));
            let sid = q.sid.map(|s| ("sid:", s));
            jti.into_iter().chain(sub).chain(sid)
        });
        let mut values: Vec<redis::Value> = Vec::with_capacity(queries.len() * 3);
        let mut key = String::new();
        loop {
            // Each key is copied into the command's one buffer: no allocation per key.
            let mut mget = redis::cmd("MGET");
            let mut asked = 0;
            for (tag, name) in keys.by_ref().take(CHECK_KEYS) {
                key.clear();
                key.push_str(&self.redis.prefix);
                key.push_str(tag);
                key.push_str(name);
                mget.arg(key.as_str());
                asked += 1;
            }
            if asked == 0 {
                break;
            }
            let got: Vec<redis::Value> = self.redis.with(|c| mget.query(c))?;
            // An answer short of a value would read as "not revoked": fail closed instead.
            if got.len() != asked {
                return Err(Error::Store(StoreError::Remote {
                    location: self.redis.location().to_string(),
                    why: format!("MGET of {asked} keys answered {} values", got.len()),
                }));
            }
            values.extend(got);
        }
        let mut values = values.into_iter();
        for q in queries {
            answers.push(self.answer(q, &mut values)?);
        }
        Ok(())
    }

    fn subject_revoked_at(&self, sub: &str) -> Result<Option<i64>> {
        let key = self.sub_key(sub);
        self.redis.with(|c| redis::cmd("GET").arg(&key).query(c))
    }

    fn revoke_token(&self, jti: &str, exp: i64, now: i64) -> Result<()> {
        if exp <= now {
            // Expired already: no check can pass it, and Redis would drop the key at once.
            return Ok(());
        }
        let key = self.jti_key(jti);
        self.redis.with(|c| {
            redis::cmd("SET")
                .arg(&key)
                .arg(exp)
                .arg("EXAT")
                .arg(exp)
                .arg("NX")
                .query::<()>(c)
        })
    }

    fn revoke_subjects(&self, subs: &[&str], at: i64, _now: i64) -> Result<()> {
        if subs.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = subs.iter().map(|s| self.sub_key(s)).collect();
        self.redis.with(|c| {
            let mut inv = self.forward.prepare_invoke();
            for k in &keys {
                inv.key(k);
            }
            inv.arg(at).invoke::<()>(c)
        })
    }

    fn list(&self) -> Result<RevocationList> {
        let strip = |k: String, tag: &str| {
            k.strip_prefix(&self.redis.prefix)
                .and_then(|k| k.strip_prefix(tag))
                .map(str::to_string)
        };
        let glob = glob_escape(&self.redis.prefix);
        let mut tokens: Vec<(String, i64)> = self
            .scan(&format!("{glob}jti:*"))?
            .into_iter()
            .filter_map(|(k, v)| Some((strip(k, "jti:")?, v?)))
            .collect();
        let mut users: Vec<(String, i64)> = self
            .scan(&format!("{glob}sub:*"))?
            .into_iter()
            .filter_map(|(k, v)| Some((strip(k, "sub:")?, v?)))
            .collect();
        tokens.sort();
        users.sort();
        Ok(RevocationList { tokens, users })
    }

    fn merge(&self, from: &RevocationList, now: i64) -> Result<()> {
        let live: Vec<&(String, i64)> = from.tokens.iter().filter(|(_, e)| *e > now).collect();
        for chunk in live.chunks(MGET_KEYS) {
            self.redis.with(|c| {
                let mut p = redis::pipe();
                for (jti, exp) in chunk {
                    p.cmd("SET")
                        .arg(self.jti_key(jti))
                        .arg(exp)
                        .arg("EXAT")
                        .arg(exp)
                        .arg("NX")
                        .ignore();
                }
                p.query::<()>(c)
            })?;
        }
        for chunk in from.users.chunks(MGET_KEYS) {
            self.redis.with(|c| {
                let mut p = redis::pipe();
                for (sub, at) in chunk {
                    p.cmd("EVAL")
                        .arg(FORWARD)
                        .arg(1)
                        .arg(self.sub_key(sub))
                        .arg(at)
                        .ignore();
                }
                p.query::<()>(c)
            })?;
        }
        Ok(())
    }

    fn prune(&self, _now: i64) -> Result<usize> {
        // Every token key expires at its token's `exp`: Redis prunes them itself.
        Ok(0)
    }

    fn is_remote(&self) -> bool {
        true
    }
}

/// The answer to a check from what Redis holds: whether the token's `jti` key exists, and
/// the time of its subject's mark, if any.
///
/// The subject's mark first, as the file store's `Revocations::check`: when both apply, it
/// says why.
fn verdict(revoked: bool, sub: Option<&str>, at: Option<i64>, iat: Option<i64>) -> Option<Revoked> {
    if let (Some(sub), Some(at)) = (sub, at)
        // A token without `iat` cannot prove it was issued after the mark.
        && iat.is_none_or(|iat| iat <= at)
    {
        return Some(Revoked::Subject {
            sub: sub.to_string(),
            at,
        });
    }
    revoked.then_some(Revoked::Token)
}

/// `s` with the glob characters of `SCAN MATCH` escaped.
pub fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::{Client, Issue, Refresh, Rules};
    use crate::store::RedisOptions;
    use crate::store::redis::testing::{Server, server};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    const HOUR: i64 = 3600;

    fn now() -> i64 {
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap()
    }

    /// A store on a fresh redis-server, the server (killed on drop), a raw connection to look
    /// at the keys, and the rules its checks are judged by (not recording uses).
    struct Fixture {
        store: RedisRevocations,
        raw: redis::Connection,
        rules: Arc<Rules>,
        port: u16,
        _server: Server,
    }

    fn fixture() -> Option<Fixture> {
        let (server, port) = server()?;
        let url = format!("redis://127.0.0.1:{port}/0");
        let rules = Arc::new(Rules::new(Limits::default(), false));
        let store = RedisRevocations::new(
            Redis::open(&url, &RedisOptions::default()).unwrap(),
            rules.clone(),
        );
        let raw = redis::Client::open(url).unwrap().get_connection().unwrap();
        Some(Fixture {
            store,
            raw,
            rules,
            port,
            _server: server,
        })
    }

    impl Fixture {
        /// Another store on the same server (another host).
        fn other(&self) -> RedisRevocations {
            let url = format!("redis://127.0.0.1:{}/0", self.port);
            RedisRevocations::new(
                Redis::open(&url, &RedisOptions::default()).unwrap(),
                self.rules.clone(),
            )
        }

        fn pttl(&mut self, key: &str) -> i64 {
            redis::cmd("PTTL")
                .arg(format!("jwtauth:{key}"))
                .query(&mut self.raw)
                .unwrap()
        }

        fn get(&mut self, key: &str) -> Option<String> {
            redis::cmd("GET")
                .arg(format!("jwtauth:{key}"))
                .query(&mut self.raw)
                .unwrap()
        }
    }

    fn session(sid: &str, sub: &str, created_at: i64, tokens: &[(&str, i64)]) -> Session {
        let mut claims = serde_json::Map::new();
        claims.insert("aud".into(), "app".into());
        Session {
            sid: sid.to_string(),
            sub: sub.to_string(),
            created_at,
            last_used_at: created_at,
            client: Client::Http {
                address: "192.0.2.1".into(),
                user_agent: Some("test/1".into()),
            },
            amr: vec!["pwd".into()],
            issue: Issue {
                ttl: 900,
                claims,
                browser: false,
            },
            refresh: Some(Refresh {
                generation: 0,
                hash: "ab".repeat(32),
                rotated_at: created_at,
            }),
            tokens: tokens
                .iter()
                .map(|(j, e)| ((*j).to_string(), *e))
                .collect::<BTreeMap<_, _>>(),
            ended_at: None,
        }
    }

    fn q<'a>(jti: Option<&'a str>, sid: Option<&'a str>, now: i64) -> Query<'a> {
        Query {
            jti,
            sub: Some("alice"),
            iat: Some(now),
            sid,
            now,
        }
    }

    #[test]
    fn a_session_is_stored_read_and_listed_as_begun() {
        let Some(f) = fixture() else { return };
        let t = now();
        let a = session("sidA", "alice", t, &[("j1", t + 900)]);
        let b = session("sidB", "bob", t, &[]);
        assert_eq!(
            f.store.begin_session(&a, &Limits::default(), t).unwrap(),
            Vec::<String>::new()
        );
        f.store.begin_session(&b, &Limits::default(), t).unwrap();
        assert_eq!(f.store.session("sidA").unwrap(), Some(a.clone()));
        assert_eq!(f.store.session("nope").unwrap(), None);
        assert_eq!(f.store.sessions(Some("alice")).unwrap(), vec![a.clone()]);
        assert_eq!(f.store.sessions(Some("carol")).unwrap(), vec![]);
        let mut all = f.store.sessions(None).unwrap();
        all.sort_by(|x, y| x.sid.cmp(&y.sid));
        assert_eq!(all, vec![a.clone(), b]);
        // Another host sees it.
        assert_eq!(f.other().session("sidA").unwrap(), Some(a.clone()));
        // A sid is never begun twice.
        assert!(f.store.begin_session(&a, &Limits::default(), t).is_err());
        // A session with no refresh tokens (a browser sign-in) round-trips too.
        let mut c = session("sidC", "alice", t, &[]);
        c.refresh = None;
        c.issue.browser = true;
        c.client = Client::Cli;
        f.store.begin_session(&c, &Limits::default(), t).unwrap();
        assert_eq!(f.store.session("sidC").unwrap(), Some(c));
    }

    #[test]
    fn every_session_key_expires_at_the_sessions_absolute_end_and_keeps_it() {
        let Some(mut f) = fixture() else { return };
        let t = now();
        let limits = Limits {
            max_age: 2 * HOUR,
            ..Limits::default()
        };
        let s = session("s1", "alice", t, &[("j1", t + 900)]);
        f.store.begin_session(&s, &limits, t).unwrap();
        let near = |ms: i64| ms > (2 * HOUR - 60) * 1000 && ms <= 2 * HOUR * 1000;
        for key in ["sid:s1", "session:s1", "sessions:alice"] {
            let ms = f.pttl(key);
            assert!(near(ms), "{key}: {ms}");
        }
        // Later writes keep the TTL: a refresh, a use, the end.
        let mut next = s.clone();
        next.refresh.as_mut().unwrap().generation = 1;
        next.last_used_at = t + 5;
        assert!(f.store.replace_session(&next, 0).unwrap());
        f.store.touch_sessions(&[("s1".into(), t + 10)]).unwrap();
        assert_eq!(f.store.end_sessions(&["s1"], t + 20).unwrap(), vec!["s1"]);
        for key in ["sid:s1", "session:s1", "sessions:alice"] {
            let ms = f.pttl(key);
            assert!(near(ms), "{key} after writes: {ms}");
        }
        // The `jti:` key written at the end expires with its token.
        let ms = f.pttl("jti:j1");
        assert!(ms > 0 && ms <= 900 * 1000, "{ms}");
        // A user's set lives as long as its last member.
        let later = session("s2", "alice", t, &[]);
        let longer = Limits {
            max_age: 3 * HOUR,
            ..Limits::default()
        };
        f.store.begin_session(&later, &longer, t).unwrap();
        let ms = f.pttl("sessions:alice");
        assert!(ms > (3 * HOUR - 60) * 1000, "{ms}");
        // A session already past its absolute end is not written at all.
        let old = session("old", "alice", t - 3 * HOUR, &[]);
        let one = Limits {
            max_per_user: 1,
            ..limits
        };
        assert!(f.store.begin_session(&old, &one, t).unwrap().is_empty());
        assert_eq!(f.store.session("s2").unwrap().unwrap().ended_at, None);
        assert_eq!(f.store.session("old").unwrap(), None);
        assert_eq!(f.get("sid:old"), None);
    }

    #[test]
    fn two_racing_spends_of_one_generation_have_exactly_one_winner() {
        let Some(f) = fixture() else { return };
        let t = now();
        let s = session("race", "alice", t, &[]);
        f.store.begin_session(&s, &Limits::default(), t).unwrap();
        for round in 0..20u64 {
            let hosts = [f.other(), f.other()];
            let barrier = std::sync::Barrier::new(2);
            let wins: Vec<bool> = std::thread::scope(|scope| {
                let handles: Vec<_> = hosts
                    .iter()
                    .enumerate()
                    .map(|(i, h)| {
                        let barrier = &barrier;
                        let mut next = s.clone();
                        scope.spawn(move || {
                            let r = next.refresh.as_mut().unwrap();
                            r.generation = round + 1;
                            r.hash = format!("{i:064}");
                            barrier.wait();
                            h.replace_session(&next, round).unwrap()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(
                wins.iter().filter(|w| **w).count(),
                1,
                "round {round}: {wins:?}"
            );
            let stored = f.store.session("race").unwrap().unwrap();
            let r = stored.refresh.unwrap();
            assert_eq!(r.generation, round + 1);
            let winner = wins.iter().position(|w| *w).unwrap();
            assert_eq!(r.hash, format!("{winner:064}"));
        }
        // A spent generation, an ended session, an unknown one: no replacement.
        let mut next = s.clone();
        next.refresh.as_mut().unwrap().generation = 99;
        assert!(!f.store.replace_session(&next, 0).unwrap());
        f.store.end_sessions(&["race"], t).unwrap();
        assert!(!f.store.replace_session(&next, 20).unwrap());
        next.sid = "unknown".into();
        assert!(!f.store.replace_session(&next, 0).unwrap());
        assert_eq!(f.store.session("unknown").unwrap(), None);
        // A session without refresh tokens is never spent.
        let mut browser = session("browser", "alice", t, &[]);
        browser.refresh = None;
        f.store
            .begin_session(&browser, &Limits::default(), t)
            .unwrap();
        assert!(!f.store.replace_session(&next, 0).unwrap());
    }

    #[test]
    fn ending_a_session_revokes_its_live_tokens_where_older_versions_look() {
        let Some(mut f) = fixture() else { return };
        let t = now();
        let s = session("e1", "alice", t, &[("live", t + 900), ("gone", t - 1)]);
        f.store.begin_session(&s, &Limits::default(), t).unwrap();
        assert_eq!(
            f.store.end_sessions(&["e1", "nope", "e1"], t).unwrap(),
            vec!["e1"]
        );
        // Ended already, unknown: nothing is live.
        assert_eq!(
            f.store.end_sessions(&["e1"], t + 1).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(f.store.end_sessions(&[], t).unwrap(), Vec::<String>::new());
        // `jti:` keys exactly as `revoke_token` writes them; an expired token gets none.
        assert_eq!(f.get("jti:live"), Some((t + 900).to_string()));
        assert_eq!(f.get("jti:gone"), None);
        // An old-style check (no `sid`) refuses the token; `revocations list` shows it.
        let old = Query {
            sid: None,
            ..q(Some("live"), None, t)
        };
        assert_eq!(f.store.check(&old).unwrap(), Some(Revoked::Token));
        assert!(
            f.store
                .list()
                .unwrap()
                .tokens
                .contains(&("live".into(), t + 900))
        );
        // The tombstone: kept, with its end; the end is the first one's.
        let stored = f.store.session("e1").unwrap().unwrap();
        assert_eq!(stored.ended_at, Some(t));
        assert_eq!(f.get("sid:e1"), Some(format!("{t} {t} {t}")));
        // A use of an ended session is not recorded.
        f.store.touch_sessions(&[("e1".into(), t + 50)]).unwrap();
        assert_eq!(f.get("sid:e1"), Some(format!("{t} {t} {t}")));
    }

    #[test]
    fn ending_a_users_sessions_keeps_the_one_asked_and_other_users() {
        let Some(f) = fixture() else { return };
        let t = now();
        for (sid, sub) in [
            ("a1", "alice"),
            ("a2", "alice"),
            ("a3", "alice"),
            ("b1", "bob"),
        ] {
            let s = session(sid, sub, t, &[(&format!("j{sid}"), t + 600)]);
            f.store.begin_session(&s, &Limits::default(), t).unwrap();
        }
        f.store.end_sessions(&["a3"], t).unwrap();
        let mut ended = f.store.end_user_sessions("alice", Some("a2"), t).unwrap();
        ended.sort();
        assert_eq!(ended, vec!["a1"]);
        let live = |sid: &str| f.store.session(sid).unwrap().unwrap().ended_at.is_none();
        assert!(live("a2") && live("b1") && !live("a1"));
        assert_eq!(
            f.store.end_user_sessions("alice", None, t).unwrap(),
            vec!["a2"]
        );
        assert_eq!(
            f.store.end_user_sessions("carol", None, t).unwrap(),
            Vec::<String>::new()
        );
        // Ended sessions are still listed (as tombstones).
        assert_eq!(f.store.sessions(Some("alice")).unwrap().len(), 3);
        assert_eq!(
            f.store.check(&q(Some("ja2"), None, t)).unwrap(),
            Some(Revoked::Token)
        );
    }

    #[test]
    fn a_sign_in_beyond_the_limit_ends_the_least_recently_used_session() {
        let Some(f) = fixture() else { return };
        let t = now();
        let limits = Limits {
            max_per_user: 2,
            ..Limits::default()
        };
        let begin = |sid: &str, created: i64| {
            let s = session(sid, "alice", created, &[(&format!("j{sid}"), t + 600)]);
            f.store.begin_session(&s, &limits, t).unwrap()
        };
        assert!(begin("s1", t - 30).is_empty());
        assert!(begin("s2", t - 20).is_empty());
        // s1 used since: s2 is now the least recently used.
        f.store.touch_sessions(&[("s1".into(), t - 5)]).unwrap();
        assert_eq!(begin("s3", t - 10), vec!["s2"]);
        assert_eq!(f.store.session("s2").unwrap().unwrap().ended_at, Some(t));
        assert_eq!(
            f.store.check(&q(Some("js2"), None, t)).unwrap(),
            Some(Revoked::Token)
        );
        // Ended sessions do not count; other users' do not either.
        let bob = session("b1", "bob", t, &[]);
        assert!(f.store.begin_session(&bob, &limits, t).unwrap().is_empty());
        // s3 (last used t-10) is now older than s1 (t-5).
        assert_eq!(begin("s4", t), vec!["s3"]);
        // A limit of one keeps only the new one.
        let one = Limits {
            max_per_user: 1,
            ..Limits::default()
        };
        let s5 = session("s5", "alice", t, &[]);
        assert_eq!(f.store.begin_session(&s5, &one, t).unwrap().len(), 2);
    }

    #[test]
    fn a_use_only_raises_the_last_use_and_unknown_sids_are_ignored() {
        let Some(mut f) = fixture() else { return };
        let t = now();
        let s = session("u1", "alice", t - 100, &[]);
        f.store.begin_session(&s, &Limits::default(), t).unwrap();
        f.store
            .touch_sessions(&[("u1".into(), t - 10), ("nope".into(), t)])
            .unwrap();
        f.store.touch_sessions(&[("u1".into(), t - 50)]).unwrap();
        f.store.touch_sessions(&[]).unwrap();
        assert_eq!(f.get("sid:u1"), Some(format!("{} {}", t - 100, t - 10)));
        assert_eq!(f.get("sid:nope"), None);
        assert_eq!(f.store.session("u1").unwrap().unwrap().last_used_at, t - 10);
        // A refresh with an older last use does not lower it either.
        let mut next = s.clone();
        next.refresh.as_mut().unwrap().generation = 1;
        assert!(f.store.replace_session(&next, 0).unwrap());
        assert_eq!(f.store.session("u1").unwrap().unwrap().last_used_at, t - 10);
    }

    #[test]
    fn checks_judge_the_session_of_each_token_in_one_mget() {
        let Some(mut f) = fixture() else { return };
        let t = now();
        let limits = Limits::default();
        f.store
            .begin_session(&session("live", "alice", t - 60, &[]), &limits, t)
            .unwrap();
        f.store
            .begin_session(&session("ended", "alice", t - 60, &[]), &limits, t)
            .unwrap();
        f.store.end_sessions(&["ended"], t).unwrap();
        let check =
            |f: &Fixture, sid: &str, now: i64| f.store.check(&q(None, Some(sid), now)).unwrap();
        assert_eq!(check(&f, "live", t), None);
        assert_eq!(check(&f, "unknown", t), Some(Revoked::Session));
        assert_eq!(check(&f, "ended", t), Some(Revoked::Session));
        // Past `session_max_age` and past `session_idle`, by the current limits.
        let max_end = t - 60 + limits.max_age;
        assert_eq!(
            check(&f, "live", max_end),
            Some(Revoked::SessionExpired { at: max_end })
        );
        let idle_end = t - 60 + limits.idle;
        assert_eq!(
            check(&f, "live", idle_end),
            Some(Revoked::SessionExpired { at: idle_end })
        );
        f.rules.set_limits(Limits {
            max_age: 30,
            ..limits
        });
        assert_eq!(
            check(&f, "live", t),
            Some(Revoked::SessionExpired { at: t - 30 })
        );
        f.rules.set_limits(limits);
        // A revoked token or user is answered first.
        f.store.revoke_token("jx", t + 600, t).unwrap();
        assert_eq!(
            f.store.check(&q(Some("jx"), Some("live"), t)).unwrap(),
            Some(Revoked::Token)
        );

        // `check_many`: the same answers, in order, from one MGET for every key.
        let queries = [
            q(Some("jx"), Some("live"), t),
            q(Some("j1"), Some("live"), t),
            q(None, Some("unknown"), t),
            q(Some("j2"), Some("ended"), t),
            q(Some("j3"), None, t),
            q(Some("j4"), Some("live"), max_end),
            Query {
                jti: None,
                sub: None,
                iat: None,
                sid: Some("live"),
                now: t,
            },
        ];
        let queries: Vec<Query<'_>> = queries.iter().cycle().take(700).copied().collect();
        redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query::<()>(&mut f.raw)
            .unwrap();
        let mut answers = vec![Some(Revoked::Token)];
        f.store.check_many(&queries, &mut answers).unwrap();
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut f.raw)
            .unwrap();
        // Only this test's connection's CONFIG and INFO besides: one MGET, nothing else.
        let commands: Vec<&str> = stats
            .lines()
            .filter_map(|l| l.strip_prefix("cmdstat_"))
            .filter(|l| !l.starts_with("config") && !l.starts_with("info"))
            .collect();
        assert_eq!(commands.len(), 1, "{stats}");
        assert!(commands[0].starts_with("mget:calls=1,"), "{stats}");
        let expected = [
            Some(Revoked::Token),
            None,
            Some(Revoked::Session),
            Some(Revoked::Session),
            None,
            Some(Revoked::SessionExpired { at: max_end }),
            None,
        ];
        let expected: Vec<_> = expected.iter().cycle().take(700).cloned().collect();
        assert_eq!(answers, expected);
        for (one, many) in queries.iter().zip(&answers) {
            assert_eq!(&f.store.check(one).unwrap(), many);
        }
        // `verify -`'s largest group, 1,024 tokens with all three keys: still one MGET.
        let full: Vec<Query<'_>> = (0..1024).map(|_| q(Some("j1"), Some("live"), t)).collect();
        redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query::<()>(&mut f.raw)
            .unwrap();
        f.store.check_many(&full, &mut answers).unwrap();
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut f.raw)
            .unwrap();
        assert!(stats.contains("cmdstat_mget:calls=1,"), "{stats}");
        assert_eq!(answers, vec![None; 1024]);
    }

    #[test]
    fn checks_fail_closed_on_unreadable_times_and_an_unreachable_redis() {
        let Some(mut f) = fixture() else { return };
        let t = now();
        redis::cmd("SET")
            .arg("jwtauth:sid:bad")
            .arg("yesterday")
            .query::<()>(&mut f.raw)
            .unwrap();
        let e = f
            .store
            .check(&q(None, Some("bad"), t))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sid:bad") && e.contains("unreadable"), "{e}");
        let mut answers = Vec::new();
        assert!(
            f.store
                .check_many(&[q(None, Some("bad"), t)], &mut answers)
                .is_err()
        );
        // A record that does not parse is an error too, never a session.
        redis::cmd("SET")
            .arg("jwtauth:sid:rec")
            .arg(format!("{t} {t}"))
            .query::<()>(&mut f.raw)
            .unwrap();
        redis::cmd("HSET")
            .arg("jwtauth:session:rec")
            .arg("record")
            .arg("{not json")
            .query::<()>(&mut f.raw)
            .unwrap();
        let e = f.store.session("rec").unwrap_err().to_string();
        assert!(e.contains("session:rec") && e.contains("unreadable"), "{e}");
        // A Redis that is not there: an error, never an answer.
        let port = f.port;
        drop(f);
        let gone = RedisRevocations::new(
            Redis::open(
                &format!("redis://127.0.0.1:{port}/0"),
                &RedisOptions::default(),
            )
            .unwrap(),
            Arc::new(Rules::new(Limits::default(), false)),
        );
        assert!(gone.check(&q(None, Some("s"), t)).is_err());
        assert!(gone.end_sessions(&["s"], t).is_err());
        let s = session("s", "alice", t, &[]);
        assert!(gone.begin_session(&s, &Limits::default(), t).is_err());
    }

    #[test]
    fn migrated_sessions_keep_what_is_here_and_prune_drops_stale_members() {
        let Some(mut f) = fixture() else { return };
        let t = now();
        let here = session("m1", "alice", t, &[]);
        f.store.begin_session(&here, &Limits::default(), t).unwrap();
        let mut other = here.clone();
        other.amr = vec!["pwd".into(), "otp".into()];
        let mut ended = session("m2", "alice", t - 10, &[("jm2", t + 600)]);
        ended.ended_at = Some(t - 5);
        let old = session("m3", "alice", t - 8 * 24 * HOUR, &[]);
        f.store
            .import_sessions(&[other, ended.clone(), old])
            .unwrap();
        assert_eq!(f.store.session("m1").unwrap(), Some(here));
        assert_eq!(f.store.session("m2").unwrap(), Some(ended));
        assert_eq!(f.store.session("m3").unwrap(), None);
        assert_eq!(
            f.store.check(&q(None, Some("m2"), t)).unwrap(),
            Some(Revoked::Session)
        );
        let ms = f.pttl("sid:m2");
        assert!(ms > 0 && ms <= (7 * 24 * HOUR - 10) * 1000, "{ms}");
        assert!(f.pttl("session:m2") > 0);
        // A member whose keys are gone is dropped by prune (Redis expired the keys).
        redis::cmd("DEL")
            .arg("jwtauth:sid:m1")
            .arg("jwtauth:session:m1")
            .query::<()>(&mut f.raw)
            .unwrap();
        assert_eq!(
            f.store
                .prune_sessions(t, Limits::default().max_age)
                .unwrap(),
            1
        );
        assert_eq!(
            f.store
                .prune_sessions(t, Limits::default().max_age)
                .unwrap(),
            0
        );
        assert_eq!(f.store.sessions(Some("alice")).unwrap().len(), 1);
    }
}
