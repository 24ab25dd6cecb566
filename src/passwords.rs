//! Passwords: the length rules, hashing and verification with bcrypt and argon2id (SPEC §11),
//! the legacy htpasswd hashes that are checked but never made (SPEC §15: `$apr1$`, `{SHA}`,
//! `$1$`, `$5$`, `$6$`), the bounds on a stored hash's parameters, the dummy hash, and whether
//! a hash needs upgrading. Reading passwords from a terminal or stdin is the command line's
//! business (`cli::password_input`).

use std::fmt;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The longest password accepted anywhere (SPEC §15): argon2id and the legacy schemes take
/// this many bytes; a longer one is refused before any hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// bcrypt reads at most 72 bytes. A new bcrypt hash refuses a longer password rather than
/// truncate it; a stored one is checked on the first 72 bytes, as bcrypt made it.
pub const MAX_BCRYPT_PASSWORD_BYTES: usize = 72;
/// Default bcrypt cost.
pub const DEFAULT_COST: u32 = 12;

/// A password, zeroized on drop and redacted in `Debug`.
pub struct Password(Zeroizing<Vec<u8>>);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(redacted)")
    }
}

impl Password {
    /// Wraps bytes after checking the length rules: 1 to [`MAX_PASSWORD_BYTES`] bytes. The
    /// 72-byte rule of bcrypt is checked where a bcrypt hash is made ([`fits`]).
    ///
    /// # Errors
    /// A usage error for an empty password or one over 1024 bytes.
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::invalid("password", "must not be empty"));
        }
        if bytes.len() > MAX_PASSWORD_BYTES {
            return Err(Error::invalid(
                "password",
                format!(
                    "is {} bytes; at most {MAX_PASSWORD_BYTES} are accepted",
                    bytes.len()
                ),
            ));
        }
        Ok(Password(bytes))
    }

    /// The password's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Checks that a new hash of `scheme` can be made from `password` without losing any of it:
/// bcrypt uses at most 72 bytes, and a longer password is refused rather than truncated.
///
/// # Errors
/// A usage error for a password over 72 bytes with bcrypt.
pub fn fits(password: &Password, scheme: &Scheme) -> Result<()> {
    let n = password.as_bytes().len();
    if matches!(scheme, Scheme::Bcrypt { .. }) && n > MAX_BCRYPT_PASSWORD_BYTES {
        return Err(Error::PasswordTooLong {
            bytes: n,
            bcrypt_max: MAX_BCRYPT_PASSWORD_BYTES,
            argon2_max: MAX_PASSWORD_BYTES,
        });
    }
    Ok(())
}

/// The bcrypt prefixes accepted (SPEC §1: `htpasswd -B` and Python `bcrypt` hashes import as
/// they are).
const PREFIXES: [&str; 4] = ["$2a$", "$2b$", "$2x$", "$2y$"];

/// The largest argon2 memory cost accepted, in KiB (256 MiB), in a stored hash and in the
/// configuration. A hash is checked before any memory is allocated for it: a record claiming
/// `m=4194304` (4 GiB) is refused as unsupported, never allocated, so one bad record cannot
/// take the memory of the server (each of its hashing threads holds `m` KiB while it runs).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// The largest argon2 time cost (passes over the memory) accepted.
pub const MAX_ARGON2_TIME: u32 = 64;
/// The largest argon2 parallelism (lanes) accepted.
pub const MAX_ARGON2_LANES: u32 = 255;
/// The argon2 version written (0x13, `v=19`, the one argon2-cffi and libsodium write).
const ARGON2_VERSION: u32 = 0x13;

/// Argon2id's cost parameters (SPEC §11; OWASP's m=19456 KiB, t=2, p=1 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// `m`: memory in KiB (at least 8 per lane).
    pub memory_kib: u32,
    /// `t`: passes over the memory.
    pub time: u32,
    /// `p`: lanes.
    pub lanes: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            memory_kib: 19_456,
            time: 2,
            lanes: 1,
        }
    }
}

impl Argon2Params {
    /// Checks the bounds this tool accepts (see [`MAX_ARGON2_MEMORY_KIB`]).
    ///
    /// # Errors
    /// The reason, in words, when a parameter is out of bounds.
    pub fn check(&self) -> std::result::Result<(), String> {
        let Argon2Params {
            memory_kib: m,
            time: t,
            lanes: p,
        } = *self;
        if !(1..=MAX_ARGON2_LANES).contains(&p) {
            return Err(format!("p={p} is out of range: 1-{MAX_ARGON2_LANES}"));
        }
        if m < 8 * p || m > MAX_ARGON2_MEMORY_KIB {
            return Err(format!(
                "m={m} is out of range: 8 KiB per lane (8 × p) to {MAX_ARGON2_MEMORY_KIB} KiB (256 MiB)"
            ));
        }
        if !(1..=MAX_ARGON2_TIME).contains(&t) {
            return Err(format!("t={t} is out of range: 1-{MAX_ARGON2_TIME}"));
        }
        Ok(())
    }

    fn argon2(&self) -> Result<argon2::Argon2<'static>> {
        let params = argon2::Params::new(self.memory_kib, self.time, self.lanes, None)
            .map_err(|e| Error::invalid("argon2 parameters", e.to_string()))?;
        Ok(argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }
}

/// A password hashing scheme with its cost: what new hashes are made with (config
/// `password_scheme`, `bcrypt_cost`, `argon2_*`), and what a stored hash was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// bcrypt at a cost (4–31).
    Bcrypt {
        /// The cost (log2 of the rounds).
        cost: u32,
    },
    /// argon2id, version 0x13, with these parameters.
    Argon2id(Argon2Params),
    /// A legacy htpasswd scheme (SPEC §15): what a stored hash may be, never what a new one
    /// is made with.
    Legacy(Legacy),
}

/// The legacy htpasswd schemes a stored hash may use (SPEC §15): checked, never made, and
/// replaced by the configured scheme at the next successful login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    /// `$apr1$`: Apache's MD5 (htpasswd's default, `-m`): MD5-crypt with its own magic.
    Apr1,
    /// `$1$`: MD5-crypt (FreeBSD, glibc).
    Md5Crypt,
    /// `{SHA}`: one unsalted SHA-1 of the password, base64 (`htpasswd -s`).
    Sha1,
    /// `$5$`: SHA-256 crypt, with its rounds (5000 unless `rounds=` says otherwise).
    Sha256Crypt {
        /// The rounds (1000 to [`MAX_SHA_CRYPT_ROUNDS`]).
        rounds: u32,
    },
    /// `$6$`: SHA-512 crypt, with its rounds.
    Sha512Crypt {
        /// The rounds (1000 to [`MAX_SHA_CRYPT_ROUNDS`]).
        rounds: u32,
    },
}

impl Legacy {
    /// The scheme's name, as `user list --json` prints it (`apr1`, `md5-crypt`, `sha1`,
    /// `sha256-crypt`, `sha512-crypt`).
    pub fn name(&self) -> &'static str {
        match self {
            Legacy::Apr1 => "apr1",
            Legacy::Md5Crypt => "md5-crypt",
            Legacy::Sha1 => "sha1",
            Legacy::Sha256Crypt { .. } => "sha256-crypt",
            Legacy::Sha512Crypt { .. } => "sha512-crypt",
        }
    }
}

impl Scheme {
    /// The scheme's name (`bcrypt`, `argon2id`, or a [`Legacy`] name).
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Bcrypt { .. } => "bcrypt",
            Scheme::Argon2id(_) => "argon2id",
            Scheme::Legacy(l) => l.name(),
        }
    }

    /// Whether this is a legacy htpasswd scheme (checked, never made).
    pub fn is_legacy(&self) -> bool {
        matches!(self, Scheme::Legacy(_))
    }
}

impl Scheme {
    /// Whether checking a password against a hash of this scheme takes at least as long as
    /// against one of `reference` (SPEC §15: a check against a cheaper stored hash is padded to
    /// the reference's time). Only the same scheme is comparable: bcrypt with a cost as high,
    /// argon2id with as much memory and as many passes (lanes do not count: this build hashes
    /// them one after the other). Any other pair, legacy schemes included, is taken as cheaper,
    /// so padding errs on the side of more work, never on a faster answer.
    pub fn costs_at_least(&self, reference: &Scheme) -> bool {
        match (self, reference) {
            (a, b) if a == b => true,
            (Scheme::Bcrypt { cost }, Scheme::Bcrypt { cost: r }) => cost >= r,
            (Scheme::Argon2id(p), Scheme::Argon2id(r)) => {
                p.memory_kib >= r.memory_kib && p.time >= r.time
            }
            _ => false,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scheme::Bcrypt { cost } => write!(f, "bcrypt cost {cost}"),
            Scheme::Argon2id(p) => {
                write!(f, "argon2id m={},t={},p={}", p.memory_kib, p.time, p.lanes)
            }
            Scheme::Legacy(Legacy::Sha256Crypt { rounds } | Legacy::Sha512Crypt { rounds }) => {
                write!(f, "{} rounds={rounds} (legacy)", self.name())
            }
            Scheme::Legacy(l) => write!(f, "{} (legacy)", l.name()),
        }
    }
}

/// What a stored hash is: its scheme and cost, and for argon2 whether it is of the version
/// this tool writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashInfo {
    /// The scheme and its parameters.
    pub scheme: Scheme,
    /// False for an argon2 hash of version 0x10 (no `v=` field).
    pub current_version: bool,
}

impl HashInfo {
    /// Whether the hash is of a legacy htpasswd scheme (SPEC §15): a successful login
    /// replaces it whatever `rehash_on_login` says.
    pub fn is_legacy(&self) -> bool {
        self.scheme.is_legacy()
    }

    /// Whether a hash like this one should be replaced by one made with `target` (SPEC §11,
    /// passlib's `needs_update`): another scheme, or weaker parameters than the target's (a
    /// lower bcrypt cost; less argon2 memory, fewer passes or lanes; the old argon2 version). A
    /// hash stronger than the configuration is kept: lowering a cost does not weaken the
    /// hashes already stored. A legacy hash always needs it.
    pub fn needs_update(&self, target: &Scheme) -> bool {
        match (&self.scheme, target) {
            (Scheme::Bcrypt { cost }, Scheme::Bcrypt { cost: want }) => cost < want,
            (Scheme::Argon2id(p), Scheme::Argon2id(want)) => {
                !self.current_version
                    || p.memory_kib < want.memory_kib
                    || p.time < want.time
                    || p.lanes < want.lanes
            }
            _ => true,
        }
    }
}

/// Checks that `hash` is a hash this tool can check: a well-formed bcrypt hash (`$2a$`,
/// `$2b$`, `$2x$` or `$2y$`, a cost of 4–31, 53 characters of bcrypt base64), an
/// `$argon2id$` PHC string within the bounds (see [`MAX_ARGON2_MEMORY_KIB`]), or a legacy
/// htpasswd hash ([`Legacy`]; SHA-crypt's rounds within [`MAX_SHA_CRYPT_ROUNDS`]).
///
/// # Errors
/// A usage error saying what is wrong.
pub fn check_hash_format(hash: &str) -> Result<()> {
    inspect(hash).map(drop)
}

/// What `hash` is, after the checks of [`check_hash_format`].
///
/// # Errors
/// A usage error saying what is wrong.
pub fn inspect(hash: &str) -> Result<HashInfo> {
    if hash.starts_with("$argon2") {
        let (info, _) = argon2_parts(hash)?;
        return Ok(info);
    }
    if let Some(parts) = legacy_parts(hash) {
        return Ok(HashInfo {
            scheme: Scheme::Legacy(parts?.scheme),
            current_version: true,
        });
    }
    if hash.starts_with("$2") || hash.len() == 60 {
        let parts = parts(hash)?;
        return Ok(HashInfo {
            scheme: Scheme::Bcrypt {
                cost: parts.get_cost(),
            },
            current_version: true,
        });
    }
    Err(Error::invalid(
        "password hash",
        "expected a bcrypt hash ($2b$12$…, 60 characters), an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$…) or a legacy htpasswd hash ($apr1$, {SHA}, $1$, $5$, $6$)",
    ))
}

/// What `hash` is, as [`inspect`], when the configuration accepts it: with `allow_legacy`
/// false (config `allow_legacy_hashes = false`, SPEC §15) a legacy hash is refused as
/// unsupported.
///
/// # Errors
/// A usage error saying what is wrong.
pub fn accepted(hash: &str, allow_legacy: bool) -> Result<HashInfo> {
    let info = inspect(hash)?;
    if info.is_legacy() && !allow_legacy {
        return Err(Error::invalid(
            "password hash",
            format!(
                "{} is a legacy scheme, refused by the configuration (allow_legacy_hashes = false)",
                info.scheme.name()
            ),
        ));
    }
    Ok(info)
}

/// The largest SHA-crypt `rounds=` accepted in a stored hash (`$5$`, `$6$`): 200 times the
/// default of 5000, above passlib's 656,000. glibc allows up to 999,999,999, which would take
/// minutes per check: a record claiming more is refused before anything is computed, so a
/// hostile users file cannot burn the CPU of a server (as with [`MAX_ARGON2_MEMORY_KIB`]).
pub const MAX_SHA_CRYPT_ROUNDS: u32 = 1_000_000;
/// The fewest SHA-crypt rounds (glibc raises fewer to this; such a hash is not one it wrote).
const MIN_SHA_CRYPT_ROUNDS: u32 = 1000;
/// SHA-crypt's rounds when the hash has no `rounds=`.
const DEFAULT_SHA_CRYPT_ROUNDS: u32 = 5000;
/// The alphabet of crypt's base64 (salts and digests of MD5-crypt and SHA-crypt).
const CRYPT64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A legacy hash taken apart: its scheme, and the salt and digest as written.
struct LegacyParts<'a> {
    scheme: Legacy,
    salt: &'a str,
    digest: &'a str,
}

fn is_crypt64(s: &str) -> bool {
    s.bytes().all(|b| CRYPT64.contains(&b))
}

/// `hash` taken apart when it starts like a legacy hash (`None` when it does not), with the
/// reason in words when it is not well formed. Nothing is computed.
fn legacy_parts(hash: &str) -> Option<Result<LegacyParts<'_>>> {
    use base64::Engine as _;
    if let Some(digest) = hash.strip_prefix("{SHA}") {
        let ok = digest.len() == 28
            && base64::engine::general_purpose::STANDARD
                .decode(digest)
                .is_ok_and(|d| d.len() == 20);
        return Some(if ok {
            Ok(LegacyParts {
                scheme: Legacy::Sha1,
                salt: "",
                digest,
            })
        } else {
            Err(Error::invalid(
                "{SHA} hash",
                "expected 28 characters of base64 (a SHA-1 digest) after {SHA}",
            ))
        });
    }
    let (prefix, rest) = ["$apr1$", "$1$", "$5$", "$6$"]
        .iter()
        .find_map(|p| hash.strip_prefix(p).map(|rest| (*p, rest)))?;
    Some(crypt_parts(prefix, rest))
}

/// The rest of an MD5-crypt or SHA-crypt hash after its `prefix`: `[rounds=N$]salt$digest`
/// (rounds for SHA-crypt only).
fn crypt_parts<'a>(prefix: &str, rest: &'a str) -> Result<LegacyParts<'a>> {
    let bad = |why: String| Error::invalid(format!("{prefix} hash"), why);
    let sha = prefix == "$5$" || prefix == "$6$";
    let (rounds, rest) = match rest.strip_prefix("rounds=") {
        Some(r) if sha => {
            let (n, rest) = r
                .split_once('$')
                .ok_or_else(|| bad("expected rounds=N$<salt>$<digest>".into()))?;
            let range = format!("{MIN_SHA_CRYPT_ROUNDS}-{MAX_SHA_CRYPT_ROUNDS}");
            if n.is_empty() || n.len() > 10 || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!("rounds= must be a decimal number: {range}")));
            }
            let n: u64 = n
                .parse()
                .map_err(|_| bad(format!("rounds= must be a decimal number: {range}")))?;
            match u32::try_from(n) {
                Ok(n) if (MIN_SHA_CRYPT_ROUNDS..=MAX_SHA_CRYPT_ROUNDS).contains(&n) => (n, rest),
                _ => return Err(bad(format!("rounds={n} is out of range: {range}"))),
            }
        }
        _ => (DEFAULT_SHA_CRYPT_ROUNDS, rest),
    };
    let (salt, digest) = rest
        .split_once('$')
        .ok_or_else(|| bad("expected <salt>$<digest>".into()))?;
    let (max_salt, len, scheme) = match prefix {
        "$5$" => (16, 43, Legacy::Sha256Crypt { rounds }),
        "$6$" => (16, 86, Legacy::Sha512Crypt { rounds }),
        "$apr1$" => (8, 22, Legacy::Apr1),
        _ => (8, 22, Legacy::Md5Crypt),
    };
    if salt.len() > max_salt || !is_crypt64(salt) {
        return Err(bad(format!(
            "expected a salt of at most {max_salt} characters of [./0-9A-Za-z]"
        )));
    }
    if digest.len() != len || !is_crypt64(digest) {
        return Err(bad(format!(
            "expected a digest of {len} characters of [./0-9A-Za-z] after the salt"
        )));
    }
    Ok(LegacyParts {
        scheme,
        salt,
        digest,
    })
}

/// MD5-crypt (Poul-Henning Kamp's `md5crypt`, FreeBSD 1994; Apache's `apr_md5_encode` is the
/// same with the magic `$apr1$`) on RustCrypto's MD5: the digest in crypt's base64. No
/// maintained crate computes `$apr1$` (`pwhash` hard-codes `$1$` and pulls in old versions
/// of the RustCrypto crates; `htpasswd-verify` carries its own MD5 and the unmaintained
/// `rust-crypto`), so the published algorithm is followed here; `tests` pin it to the
/// vectors of `openssl passwd -1/-apr1` and Apache's documentation.
fn md5_crypt(password: &[u8], magic: &[u8], salt: &[u8]) -> Zeroizing<Vec<u8>> {
    use md5::{Digest, Md5};
    let alternate = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut ctx = Md5::new()
        .chain_update(password)
        .chain_update(magic)
        .chain_update(salt);
    for chunk in password.chunks(16) {
        ctx.update(&alternate[..chunk.len()]);
    }
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize();
    }
    let mut out = Zeroizing::new(Vec::with_capacity(22));
    let mut push = |v: u32, n: usize| {
        let mut v = v;
        for _ in 0..n {
            out.push(CRYPT64[(v & 0x3f) as usize]);
            v >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        push(
            (u32::from(fin[a]) << 16) | (u32::from(fin[b]) << 8) | u32::from(fin[c]),
            4,
        );
    }
    push(u32::from(fin[11]), 2);
    out
}

/// Checks `password` against a legacy hash taken apart; the digests are compared in
/// constant time.
fn verify_legacy(password: &[u8], parts: &LegacyParts<'_>) -> Result<bool> {
    use base64::Engine as _;
    use sha1::Digest as _;
    use subtle::ConstantTimeEq as _;
    let crypt = |e: sha_crypt::CryptError| Error::invalid("SHA-crypt hash", format!("{e:?}"));
    let salt = parts.salt.as_bytes();
    let computed: Zeroizing<Vec<u8>> = match parts.scheme {
        Legacy::Apr1 => md5_crypt(password, b"$apr1$", salt),
        Legacy::Md5Crypt => md5_crypt(password, b"$1$", salt),
        Legacy::Sha1 => Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .encode(sha1::Sha1::digest(password))
                .into_bytes(),
        ),
        Legacy::Sha256Crypt { rounds } => {
            let params = sha_crypt::Sha256Params::new(rounds as usize).map_err(crypt)?;
            Zeroizing::new(
                sha_crypt::sha256_crypt_b64(password, salt, &params)
                    .map_err(crypt)?
                    .into_bytes(),
            )
        }
        Legacy::Sha512Crypt { rounds } => {
            let params = sha_crypt::Sha512Params::new(rounds as usize).map_err(crypt)?;
            Zeroizing::new(
                sha_crypt::sha512_crypt_b64(password, salt, &params)
                    .map_err(crypt)?
                    .into_bytes(),
            )
        }
    };
    Ok(computed.as_slice().ct_eq(parts.digest.as_bytes()).into())
}

/// `hash` taken apart by the bcrypt crate, which `verify` uses too, with the reason in our
/// words when it is not well formed.
fn parts(hash: &str) -> Result<bcrypt::HashParts> {
    let bad = |why: &str| Error::invalid("bcrypt hash", why);
    if hash.len() != 60 {
        return Err(bad("expected 60 characters like $2b$12$…"));
    }
    if !PREFIXES.iter().any(|p| hash.starts_with(p)) {
        return Err(bad("expected a $2a$, $2b$, $2x$ or $2y$ prefix"));
    }
    // The crate names the faulty part only in prose; the cost is the `NN$` after the prefix.
    let cost_field = hash
        .get(4..7)
        .is_some_and(|c| c.as_bytes()[..2].iter().all(u8::is_ascii_digit) && c.ends_with('$'));
    match hash.parse::<bcrypt::HashParts>() {
        Ok(parts) if (4..=31).contains(&parts.get_cost()) => Ok(parts),
        Err(_) if cost_field => Err(bad("salt and digest must be bcrypt base64 ([./A-Za-z0-9])")),
        _ => Err(bad("expected a two-digit cost from 04 to 31")),
    }
}

/// An `$argon2…$` string taken apart and checked: argon2id only, no secret key id or
/// associated data, a salt and a digest, parameters within the bounds. Nothing is allocated
/// by the checks.
fn argon2_parts(hash: &str) -> Result<(HashInfo, argon2::password_hash::PasswordHash<'_>)> {
    use argon2::password_hash::PasswordHash;
    let bad = |why: String| Error::invalid("argon2 hash", why);
    for (prefix, name) in [("$argon2i$", "argon2i"), ("$argon2d$", "argon2d")] {
        if hash.starts_with(prefix) {
            return Err(bad(format!(
                "{name} is not supported, only argon2id ($argon2id$v=19$m=…,t=…,p=…$…)"
            )));
        }
    }
    if !hash.starts_with("$argon2id$") {
        return Err(bad(
            "expected $argon2id$v=19$m=…,t=…,p=…$<salt>$<digest>".into()
        ));
    }
    let parsed = PasswordHash::new(hash).map_err(|e| {
        bad(format!(
            "not a PHC string ($argon2id$v=19$m=…,t=…,p=…$<salt>$<digest>): {e}"
        ))
    })?;
    let version = match parsed.version {
        None => 0x10,
        Some(v) if v == 0x10 || v == ARGON2_VERSION => v,
        Some(v) => return Err(bad(format!("v={v} is not an argon2 version (16 or 19)"))),
    };
    let mut params = Argon2Params {
        memory_kib: 0,
        time: 0,
        lanes: 0,
    };
    for (name, value) in parsed.params.iter() {
        let slot = match name.as_str() {
            "m" => &mut params.memory_kib,
            "t" => &mut params.time,
            "p" => &mut params.lanes,
            other => {
                return Err(bad(format!(
                    "the parameter {other:?} is not supported (only m, t and p; no secret key or associated data)"
                )));
            }
        };
        *slot = value
            .decimal()
            .map_err(|_| bad(format!("{} must be a decimal number", name.as_str())))?;
    }
    if params.memory_kib == 0 || params.time == 0 || params.lanes == 0 {
        return Err(bad("expected the parameters m, t and p".into()));
    }
    params.check().map_err(bad)?;
    let salt_ok = parsed.salt.is_some_and(|s| {
        let mut buf = [0u8; 64];
        s.decode_b64(&mut buf).is_ok_and(|b| b.len() >= 8)
    });
    if !salt_ok {
        return Err(bad(
            "expected a salt of at least 8 bytes in unpadded base64".into(),
        ));
    }
    if parsed.hash.is_none() {
        return Err(bad("expected a digest after the salt".into()));
    }
    Ok((
        HashInfo {
            scheme: Scheme::Argon2id(params),
            current_version: version == ARGON2_VERSION,
        },
        parsed,
    ))
}

/// Hashes a password with `scheme`: `$2b$` bcrypt, or an `$argon2id$v=19$` PHC string with a
/// random 16-byte salt and a 32-byte digest (argon2-cffi's defaults).
///
/// # Errors
/// A usage error if the cost or parameters are refused, for a password over 72 bytes with
/// bcrypt, or for a legacy scheme (never made).
pub fn hash(password: &Password, scheme: &Scheme) -> Result<String> {
    match scheme {
        // `fits` refuses over 72 bytes, so nothing is truncated. (The crate's
        // `non_truncating_*` functions count bcrypt's NUL terminator and so refuse a 72-byte
        // password; the plain ones hash its 72 bytes exactly as OpenBSD, htpasswd and Python
        // bcrypt do.)
        Scheme::Bcrypt { cost } => {
            fits(password, scheme)?;
            bcrypt::hash(password.as_bytes(), *cost)
                .map_err(|e| Error::invalid("bcrypt", e.to_string()))
        }
        Scheme::Legacy(l) => Err(Error::invalid(
            "password scheme",
            format!("{} is a legacy scheme: checked, never made", l.name()),
        )),
        Scheme::Argon2id(params) => {
            use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
            params
                .check()
                .map_err(|why| Error::invalid("argon2 parameters", why))?;
            let salt = SaltString::generate(&mut OsRng);
            params
                .argon2()?
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| Error::invalid("argon2", e.to_string()))
        }
    }
}

/// Checks a password against a hash of any scheme it accepts (legacy ones included); the
/// hash must be well formed (and, for argon2 and SHA-crypt, within the bounds: checked before
/// any memory is allocated or any round computed).
///
/// # Errors
/// A usage error for a malformed or unsupported hash.
pub fn verify(password: &Password, hash: &str) -> Result<bool> {
    if hash.starts_with("$argon2") {
        use argon2::password_hash::PasswordVerifier;
        let (_, parsed) = argon2_parts(hash)?;
        return match argon2::Argon2::default().verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(e) => Err(Error::invalid("argon2 hash", e.to_string())),
        };
    }
    if let Some(parts) = legacy_parts(hash) {
        return verify_legacy(password.as_bytes(), &parts?);
    }
    inspect(hash)?;
    // A password over 72 bytes is checked on its first 72, as bcrypt made the hash (SPEC
    // §15: `htpasswd -B` and Python's bcrypt before 5.0 truncate).
    bcrypt::verify(password.as_bytes(), hash)
        .map_err(|e| Error::invalid("bcrypt hash", e.to_string()))
}

/// A well-formed hash that no password matches, of `scheme`: verifying against it costs the
/// same time (and, for argon2, the same memory) as verifying against a real hash of that
/// scheme and cost, so an unknown user cannot be told apart from a wrong password by timing.
pub fn dummy_hash(scheme: &Scheme) -> String {
    match scheme {
        // A real salt and digest (of a phrase no password check ever sends), at any cost.
        Scheme::Bcrypt { cost } => {
            format!("$2b${cost:02}$G71Mpa6snruqHLJybrRnHeomX7DHBWwVdFoChTlPgAcKrMkkwAoBy")
        }
        // A fixed salt and an all-zero digest: no password hashes to it (2^-256).
        Scheme::Argon2id(p) => format!(
            "$argon2id$v=19$m={},t={},p={}$ZHVtbXlzYWx0ZHVtbXlzYQ${}",
            p.memory_kib,
            p.time,
            p.lanes,
            "A".repeat(43)
        ),
        // Well formed, with digests no password gives (all zero bits).
        Scheme::Legacy(Legacy::Apr1) => format!("$apr1$dummysal${}", ".".repeat(22)),
        Scheme::Legacy(Legacy::Md5Crypt) => format!("$1$dummysal${}", ".".repeat(22)),
        Scheme::Legacy(Legacy::Sha1) => format!("{{SHA}}{}=", "A".repeat(27)),
        Scheme::Legacy(Legacy::Sha256Crypt { rounds }) => {
            format!("$5$rounds={rounds}$dummysaltdummysa${}", ".".repeat(43))
        }
        Scheme::Legacy(Legacy::Sha512Crypt { rounds }) => {
            format!("$6$rounds={rounds}$dummysaltdummysa${}", ".".repeat(86))
        }
    }
}

/// The cost of a well-formed bcrypt hash.
pub fn cost_of(hash: &str) -> Option<u32> {
    parts(hash).ok().map(|p| p.get_cost())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small argon2 parameters: the tests stay fast.
    const SMALL: Argon2Params = Argon2Params {
        memory_kib: 64,
        time: 1,
        lanes: 1,
    };

    fn pw(s: &str) -> Password {
        Password::new(Zeroizing::new(s.as_bytes().to_vec())).unwrap()
    }

    #[test]
    fn argon2id_round_trip_and_needs_update() {
        let h = hash(&pw("secret"), &Scheme::Argon2id(SMALL)).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{h}");
        assert!(verify(&pw("secret"), &h).unwrap());
        assert!(!verify(&pw("secreT"), &h).unwrap());
        let info = inspect(&h).unwrap();
        assert!(!info.needs_update(&Scheme::Argon2id(SMALL)));
        assert!(info.needs_update(&Scheme::Argon2id(Argon2Params { time: 2, ..SMALL })));
        assert!(info.needs_update(&Scheme::Argon2id(Argon2Params {
            memory_kib: 128,
            ..SMALL
        })));
        assert!(info.needs_update(&Scheme::Bcrypt { cost: 4 }));
        // Stronger than wanted in one parameter, weaker in none: kept.
        let strong = hash(
            &pw("secret"),
            &Scheme::Argon2id(Argon2Params { time: 2, ..SMALL }),
        )
        .unwrap();
        assert!(
            !inspect(&strong)
                .unwrap()
                .needs_update(&Scheme::Argon2id(SMALL))
        );
        let b = hash(&pw("secret"), &Scheme::Bcrypt { cost: 5 }).unwrap();
        let info = inspect(&b).unwrap();
        assert!(!info.needs_update(&Scheme::Bcrypt { cost: 5 }));
        assert!(!info.needs_update(&Scheme::Bcrypt { cost: 4 }));
        assert!(info.needs_update(&Scheme::Bcrypt { cost: 6 }));
        assert!(info.needs_update(&Scheme::Argon2id(SMALL)));
        // Version 0x10 (no `v=`) verifies, and is upgraded.
        let old = "$argon2id$m=64,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!inspect(old).unwrap().current_version);
        assert!(inspect(old).unwrap().needs_update(&Scheme::Argon2id(SMALL)));
        assert!(!verify(&pw("x"), old).unwrap());
    }

    #[test]
    fn argon2_refusals_say_why_and_allocate_nothing() {
        let good = hash(&pw("secret"), &Scheme::Argon2id(SMALL)).unwrap();
        let why = |h: &str| inspect(h).unwrap_err().to_string();
        let i = good.replacen("$argon2id$", "$argon2i$", 1);
        assert!(why(&i).contains("argon2i is not supported"), "{}", why(&i));
        assert!(verify(&pw("secret"), &i).is_err());
        let d = good.replacen("$argon2id$", "$argon2d$", 1);
        assert!(why(&d).contains("argon2d is not supported"));
        // 4 GiB, or more than u32: refused before anything is allocated.
        for m in ["m=4194304", "m=262145", "m=99999999999", "m=7"] {
            let h = good.replacen("m=64", m, 1);
            assert!(why(&h).starts_with("argon2 hash: "), "{m}: {}", why(&h));
            assert!(verify(&pw("secret"), &h).is_err(), "{m}");
        }
        for bad in [
            good.replacen("t=1", "t=65", 1),
            good.replacen("t=1", "t=0", 1),
            good.replacen("p=1", "p=256", 1),
            good.replacen("m=64", "m=64,keyid=AAAA", 1),
            good.replacen("v=19", "v=20", 1),
            good.replacen(",t=1", "", 1),
            good[..good.rfind('$').unwrap()].to_string(),
            "$argon2id$".to_string(),
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            format!("{good}!"),
        ] {
            assert!(inspect(&bad).is_err(), "{bad}");
            assert!(verify(&pw("secret"), &bad).is_err(), "{bad}");
        }
        assert!(why("plain").starts_with("password hash: expected a bcrypt hash"));
        // At the bounds: accepted.
        let top = dummy_hash(&Scheme::Argon2id(Argon2Params {
            memory_kib: MAX_ARGON2_MEMORY_KIB,
            time: MAX_ARGON2_TIME,
            lanes: MAX_ARGON2_LANES,
        }));
        check_hash_format(&top).unwrap();
    }

    #[test]
    fn costs_at_least_compares_only_like_with_like() {
        let b = |cost| Scheme::Bcrypt { cost };
        assert!(b(10).costs_at_least(&b(10)));
        assert!(b(11).costs_at_least(&b(10)));
        assert!(!b(9).costs_at_least(&b(10)));
        let a = |memory_kib, time, lanes| {
            Scheme::Argon2id(Argon2Params {
                memory_kib,
                time,
                lanes,
            })
        };
        assert!(a(64, 2, 1).costs_at_least(&a(64, 2, 1)));
        assert!(a(128, 2, 1).costs_at_least(&a(64, 2, 1)));
        assert!(a(64, 2, 4).costs_at_least(&a(64, 2, 1)));
        assert!(!a(32, 2, 1).costs_at_least(&a(64, 2, 1)));
        assert!(!a(64, 1, 1).costs_at_least(&a(64, 2, 1)));
        assert!(!a(128, 1, 1).costs_at_least(&a(64, 2, 1)));
        assert!(!b(31).costs_at_least(&a(8, 1, 1)));
        assert!(!a(MAX_ARGON2_MEMORY_KIB, 64, 1).costs_at_least(&b(4)));
    }

    #[test]
    fn dummy_hash_is_well_formed() {
        for cost in 4..=31 {
            check_hash_format(&dummy_hash(&Scheme::Bcrypt { cost })).unwrap();
        }
        for p in [SMALL, Argon2Params::default()] {
            let info = inspect(&dummy_hash(&Scheme::Argon2id(p))).unwrap();
            assert_eq!(info.scheme, Scheme::Argon2id(p));
            assert!(info.current_version);
        }
    }

    #[test]
    fn dummy_hash_matches_nothing() {
        let pw = Password::new(Zeroizing::new(b"password".to_vec())).unwrap();
        assert!(!verify(&pw, &dummy_hash(&Scheme::Bcrypt { cost: 4 })).unwrap());
        assert!(!verify(&pw, &dummy_hash(&Scheme::Argon2id(SMALL))).unwrap());
    }

    #[test]
    fn hash_format_rejects_bad_prefix_cost_and_alphabet() {
        let good = bcrypt::hash("x", 4).unwrap();
        check_hash_format(&good).unwrap();
        assert!(check_hash_format(&good.replacen("$2b$", "$2c$", 1)).is_err());
        assert!(check_hash_format(&good.replacen("$04$", "$03$", 1)).is_err());
        assert!(check_hash_format(&good.replacen("$04$", "$32$", 1)).is_err());
        assert!(check_hash_format(&format!("{}!", &good[..59])).is_err());
        assert!(check_hash_format(&good[..59]).is_err());
        let why = |h: &str| check_hash_format(h).unwrap_err().to_string();
        assert!(why(&good.replacen("$04$", "$x4$", 1)).ends_with("a two-digit cost from 04 to 31"));
        assert!(why(&good.replacen("$04$", "$32$", 1)).ends_with("a two-digit cost from 04 to 31"));
        assert!(why(&format!("{}!", &good[..59])).ends_with("bcrypt base64 ([./A-Za-z0-9])"));
        for prefix in ["$2a$", "$2x$", "$2y$"] {
            let h = good.replacen("$2b$", prefix, 1);
            check_hash_format(&h).unwrap();
            assert_eq!(cost_of(&h), Some(4));
        }
        assert_eq!(cost_of("$2b$04$abc"), None);
    }

    #[test]
    fn password_length_rules() {
        assert!(Password::new(Zeroizing::new(vec![])).is_err());
        assert!(Password::new(Zeroizing::new(vec![b'a'; 72])).is_ok());
        assert!(Password::new(Zeroizing::new(vec![b'a'; 1024])).is_ok());
        assert!(Password::new(Zeroizing::new(vec![b'a'; 1025])).is_err());
        // bcrypt: made only up to 72 bytes, checked on the first 72 beyond.
        let long = Password::new(Zeroizing::new(vec![b'a'; 100])).unwrap();
        let bcrypt4 = Scheme::Bcrypt { cost: 4 };
        assert!(fits(&long, &bcrypt4).is_err());
        assert!(hash(&long, &bcrypt4).is_err());
        fits(&long, &Scheme::Argon2id(SMALL)).unwrap();
        let h = hash(&pw(&"a".repeat(72)), &bcrypt4).unwrap();
        assert!(verify(&long, &h).unwrap());
        let a = hash(&long, &Scheme::Argon2id(SMALL)).unwrap();
        assert!(verify(&long, &a).unwrap());
        assert!(!verify(&pw(&"a".repeat(72)), &a).unwrap());
    }

    /// Vectors from `openssl passwd -1/-apr1/-5/-6`, `htpasswd -s` and Apache's manual.
    const LEGACY_VECTORS: &[(&str, &str, Legacy)] = &[
        (
            "myPassword",
            "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/",
            Legacy::Apr1,
        ),
        ("pw", "$apr1$$w7neMnnY7ZMxFRIT9tS6m.", Legacy::Apr1),
        (
            "password",
            "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/",
            Legacy::Md5Crypt,
        ),
        (
            "password",
            "$1$5pZSV9va$azfrPr6af3Fc7dLblQXVa0",
            Legacy::Md5Crypt,
        ),
        (
            "password",
            "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
            Legacy::Sha1,
        ),
        (
            "password",
            "$5$saltsalt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC.",
            Legacy::Sha256Crypt { rounds: 5000 },
        ),
        (
            "password",
            "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
            Legacy::Sha512Crypt { rounds: 5000 },
        ),
        (
            "pw",
            "$6$rounds=10000$abc$TPidcyVdsuALEejDNhmEl6D0An8RGrk3MWNhKXnkA/1s3bobDmHLj1fwXJdVOCPyWqopaBFpgYCiA9mRVYusl0",
            Legacy::Sha512Crypt { rounds: 10000 },
        ),
    ];

    #[test]
    fn legacy_hashes_are_checked_and_never_made() {
        for (p, h, kind) in LEGACY_VECTORS {
            let info = inspect(h).unwrap();
            assert_eq!(info.scheme, Scheme::Legacy(*kind), "{h}");
            assert!(info.is_legacy());
            assert!(info.needs_update(&Scheme::Bcrypt { cost: 4 }));
            assert!(info.needs_update(&Scheme::Argon2id(SMALL)));
            assert!(verify(&pw(p), h).unwrap(), "{h}");
            assert!(!verify(&pw(&format!("{p}x")), h).unwrap(), "{h}");
            assert!(accepted(h, true).is_ok());
            let why = accepted(h, false).unwrap_err().to_string();
            assert!(why.contains("allow_legacy_hashes = false"), "{why}");
            assert!(hash(&pw(p), &info.scheme).is_err());
            // The dummy of the same kind is well formed and matches nothing.
            let d = dummy_hash(&info.scheme);
            assert_eq!(inspect(&d).unwrap().scheme, info.scheme, "{d}");
            assert!(!verify(&pw(p), &d).unwrap());
        }
        // Long passwords: no limit but the general one.
        let long = "L".repeat(1024);
        assert!(!verify(&pw(&long), LEGACY_VECTORS[0].1).unwrap());
    }

    #[test]
    fn legacy_refusals_say_why_and_compute_nothing() {
        let why = |h: &str| inspect(h).unwrap_err().to_string();
        let six = LEGACY_VECTORS[6].1;
        for (bad, reason) in [
            (
                six.replacen("$6$", "$6$rounds=999999999$", 1),
                "rounds=999999999 is out of range: 1000-1000000",
            ),
            (six.replacen("$6$", "$6$rounds=1000001$", 1), "out of range"),
            (six.replacen("$6$", "$6$rounds=999$", 1), "out of range"),
            (
                six.replacen("$6$", "$6$rounds=99999999999999999999999$", 1),
                "must be a decimal number",
            ),
            (six.replacen("$6$", "$6$rounds=-5$", 1), "decimal number"),
            (six.replacen("$6$", "$6$rounds=$", 1), "decimal number"),
            (format!("{six}x"), "a digest of 86 characters"),
            (format!("{six}$"), "a digest of 86 characters"),
            (six[..20].to_string(), "a digest of 86"),
            (
                "$6$saltsaltsaltsaltX$abc".to_string(),
                "a salt of at most 16",
            ),
            ("$6$nosalt".to_string(), "expected <salt>$<digest>"),
            (
                "$apr1$toolongsalt$HqJZimcKQFAMYayBlzkrA/".to_string(),
                "a salt of at most 8",
            ),
            ("$apr1$x$y".to_string(), "a digest of 22"),
            ("$1$a:b$qjXMvbEw8oaL.CzflDtaK/".to_string(), "a salt"),
            ("{SHA}abc=".to_string(), "28 characters of base64"),
            ("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g".to_string(), "28"),
        ] {
            assert!(why(&bad).contains(reason), "{bad}: {}", why(&bad));
            assert!(verify(&pw("pw"), &bad).is_err(), "{bad}");
        }
        // rounds= is SHA-crypt's only; at the bounds: accepted.
        assert!(inspect("$1$rounds=5$x$qjXMvbEw8oaL.CzflDtaK/").is_err());
        let top = LEGACY_VECTORS[7].1.replacen(
            "rounds=10000",
            &format!("rounds={MAX_SHA_CRYPT_ROUNDS}"),
            1,
        );
        assert_eq!(
            inspect(&top).unwrap().scheme,
            Scheme::Legacy(Legacy::Sha512Crypt {
                rounds: MAX_SHA_CRYPT_ROUNDS
            })
        );
        // DES crypt and plain text stay unsupported.
        assert!(inspect("VkW14JL15w4Wg").is_err());
        assert!(inspect("secret").is_err());
    }
}
