//! Signing and verifying keys: where they are (SPEC §1 "Keys"), how they are read, and
//! `init`, which creates them.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use zeroize::Zeroizing;

use crate::context::{Ctx, KeyConfig, KeySource};
use crate::error::{Error, Result};
use crate::store;

/// Shortest HMAC secret accepted for signing without `--allow-weak-key` (RFC 7518 §3.2 asks
/// for at least the hash size; 32 bytes is HS256's).
pub const MIN_HMAC_BYTES: usize = 32;
/// Random bytes in a secret made by `init` (512 bits).
pub const SECRET_BYTES: usize = 64;
/// Default HMAC key file name in the config directory.
pub const DEFAULT_SECRET: &str = "secret";
/// Default private key file name in the config directory.
pub const DEFAULT_PRIVATE: &str = "private.pem";

/// A loaded key, ready to sign (if it is private or a secret) and to verify.
pub struct Key {
    /// The algorithm family; `verify` accepts exactly this family's algorithms.
    pub family: AlgorithmFamily,
    /// Default signing algorithm: from `<key file>.alg`, else the family's default.
    pub alg: Algorithm,
    /// Where it came from.
    pub source: KeySource,
    /// The file, unless it came from `JWT_SECRET_KEY`.
    pub path: Option<PathBuf>,
    /// The RFC 7638 thumbprint for asymmetric keys (the header's `kid`).
    pub kid: Option<String>,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    secret_len: Option<usize>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("family", &self.family)
            .field("alg", &self.alg)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Key {
    fn hmac(secret: &[u8], alg: Algorithm, source: KeySource, path: Option<PathBuf>) -> Self {
        Key {
            family: AlgorithmFamily::Hmac,
            alg,
            source,
            path,
            kid: None,
            encoding: Some(EncodingKey::from_secret(secret)),
            decoding: DecodingKey::from_secret(secret),
            secret_len: Some(secret.len()),
        }
    }

    /// A name for messages: the path, or `JWT_SECRET_KEY`.
    pub fn name(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => "JWT_SECRET_KEY".to_string(),
        }
    }

    /// The key for verifying.
    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The key for signing with `alg`, after the family and strength checks.
    ///
    /// # Errors
    /// Exit 8 for a public-only key, an algorithm of another family, or an HMAC secret
    /// shorter than 32 bytes without `allow_weak`.
    pub fn encoding(&self, alg: Algorithm, allow_weak: bool) -> Result<&EncodingKey> {
        if alg.family() != self.family {
            return Err(Error::config(
                format!("key {}", self.name()),
                format!(
                    "is a {} key and cannot sign {alg:?}",
                    family_name(self.family)
                ),
            ));
        }
        if let Some(len) = self.secret_len
            && len < MIN_HMAC_BYTES
            && !allow_weak
        {
            return Err(Error::config(
                format!("key {}", self.name()),
                format!(
                    "HMAC secret is {len} bytes, under the {MIN_HMAC_BYTES}-byte minimum; run 'jwtauth init' for a strong one, or pass --allow-weak-key"
                ),
            ));
        }
        self.encoding.as_ref().ok_or_else(|| {
            Error::config(
                format!("key {}", self.name()),
                "is a public key and cannot sign",
            )
        })
    }
}

/// A human name for an algorithm family.
pub fn family_name(f: AlgorithmFamily) -> &'static str {
    match f {
        AlgorithmFamily::Hmac => "HMAC",
        AlgorithmFamily::Rsa => "RSA",
        AlgorithmFamily::Ec => "EC",
        AlgorithmFamily::Ed => "Ed25519",
    }
}

/// The family's default signing algorithm.
pub fn default_alg(f: AlgorithmFamily) -> Algorithm {
    match f {
        AlgorithmFamily::Hmac => Algorithm::HS256,
        AlgorithmFamily::Rsa => Algorithm::RS256,
        AlgorithmFamily::Ec => Algorithm::ES256,
        AlgorithmFamily::Ed => Algorithm::EdDSA,
    }
}

/// What `paths` shows for the key: the file (if any) and its source.
pub fn describe(ctx: &Ctx) -> Result<(Option<PathBuf>, KeySource)> {
    Ok(match ctx.key_config()? {
        KeyConfig::File { path, source } => (Some(path.clone()), *source),
        KeyConfig::Secret(_) => (None, KeySource::SecretEnv),
        KeyConfig::Default { dir } => {
            let private = dir.join(DEFAULT_PRIVATE);
            let path = if private.exists() && !dir.join(DEFAULT_SECRET).exists() {
                private
            } else {
                dir.join(DEFAULT_SECRET)
            };
            (Some(path), KeySource::Default)
        }
    })
}

/// Loads the configured key.
///
/// # Errors
/// Exit 8 when no key is configured (with the hint `run 'jwtauth init'`), when an explicit
/// key file does not exist, when both default files exist, or when the file is unreadable.
pub fn load(ctx: &Ctx) -> Result<Key> {
    match locate(ctx)? {
        Some(key) => Ok(key),
        None => Err(Error::config(
            "no signing key",
            "run 'jwtauth init' to create one (or set JWT_SECRET_KEY or pass --key)",
        )),
    }
}

/// Loads the configured key; when none is configured anywhere, creates the default HMAC key
/// exactly as `init` would and says so on stderr (the first `login` of a fresh install).
///
/// # Errors
/// As `load`, plus the errors of creating the key.
pub fn load_or_create(ctx: &Ctx) -> Result<Key> {
    if let Some(key) = locate(ctx)? {
        return Ok(key);
    }
    let KeyConfig::Default { dir } = ctx.key_config()? else {
        return load(ctx);
    };
    let path = dir.join(DEFAULT_SECRET);
    match create(&path, Algorithm::HS256, false) {
        Ok(()) => ctx.info(format!(
            "created a new HS256 signing key at {}",
            path.display()
        )),
        // Another process created it first: use theirs.
        Err(Error::Config { .. }) if path.exists() => {}
        Err(e) => return Err(e),
    }
    load(ctx)
}

fn locate(ctx: &Ctx) -> Result<Option<Key>> {
    match ctx.key_config()? {
        KeyConfig::Secret(bytes) => {
            if bytes.is_empty() {
                return Err(Error::config("JWT_SECRET_KEY", "is set but empty"));
            }
            Ok(Some(Key::hmac(
                bytes,
                Algorithm::HS256,
                KeySource::SecretEnv,
                None,
            )))
        }
        KeyConfig::File { path, source } => {
            if !path.exists() {
                return Err(Error::config(
                    format!("key {}", path.display()),
                    "does not exist; run 'jwtauth init' to create it",
                ));
            }
            read_key_file(path, *source, ctx.quiet).map(Some)
        }
        KeyConfig::Default { dir } => {
            let secret = dir.join(DEFAULT_SECRET);
            let private = dir.join(DEFAULT_PRIVATE);
            match (secret.exists(), private.exists()) {
                (true, true) => Err(Error::config(
                    "two default keys",
                    format!(
                        "both {} and {} exist; choose with --key",
                        secret.display(),
                        private.display()
                    ),
                )),
                (true, false) => read_key_file(&secret, KeySource::Default, ctx.quiet).map(Some),
                (false, true) => read_key_file(&private, KeySource::Default, ctx.quiet).map(Some),
                (false, false) => Ok(None),
            }
        }
    }
}

/// Reads a key file: PEM for asymmetric keys, else an HMAC secret as text (its bytes up to
/// one optional trailing newline). A key file that group or others may access gets a warning
/// on stderr (silenced by `-q`): it still works, since public keys and test secrets are often
/// shared on purpose, but a signing secret should be 0600.
fn read_key_file(path: &Path, source: KeySource, quiet: bool) -> Result<Key> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io(path, e))?);
    let mut key = parse_key(path, &bytes, source)?;
    key.alg = read_alg(path, key.family)?;
    if !quiet && let Some(mode) = loose_mode(path) {
        eprintln!(
            "jwtauth: warning: key {} is accessible by group or others (mode {mode:04o}); run 'chmod 600 {}'",
            path.display(),
            path.display()
        );
    }
    Ok(key)
}

#[cfg(unix)]
fn loose_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn loose_mode(_: &Path) -> Option<u32> {
    None
}

/// Parses the bytes of a key file (`path` is for messages); the algorithm is the family's
/// default until `<key file>.alg` says otherwise.
///
/// # Errors
/// Exit 8 for an empty or unsupported key.
pub fn parse_key(path: &Path, bytes: &[u8], source: KeySource) -> Result<Key> {
    let bad = |why: &str| Error::config(format!("key {}", path.display()), why);
    if bytes.starts_with(b"-----BEGIN") {
        return Err(bad(
            "is a PEM key; this build signs and verifies with HMAC secrets only",
        ));
    }
    let secret = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if secret.is_empty() {
        return Err(bad("is empty"));
    }
    Ok(Key::hmac(
        secret,
        default_alg(AlgorithmFamily::Hmac),
        source,
        Some(path.to_path_buf()),
    ))
}

/// The algorithm recorded in `<key file>.alg`, or the family's default.
fn read_alg(key_path: &Path, family: AlgorithmFamily) -> Result<Algorithm> {
    let path = store::sidecar(key_path, ".alg");
    let Some(bytes) = store::read_optional(&path)? else {
        return Ok(default_alg(family));
    };
    let text = String::from_utf8_lossy(&bytes);
    let alg: Algorithm = text.trim().parse().map_err(|_| {
        Error::config(
            path.display(),
            format!("unknown algorithm {:?}", text.trim()),
        )
    })?;
    if alg.family() != family {
        return Err(Error::config(
            path.display(),
            format!(
                "names {alg:?}, which a {} key cannot sign",
                family_name(family)
            ),
        ));
    }
    Ok(alg)
}

/// Where `init` writes: `--key`, else `JWTAUTH_KEY_FILE`, else the default file for `alg`.
///
/// # Errors
/// A configuration error when no home directory is known.
pub fn init_path(ctx: &Ctx, alg: Algorithm) -> Result<PathBuf> {
    if let Some(p) = ctx.key_flag.as_ref().or(ctx.key_file_env.as_ref()) {
        return Ok(p.clone());
    }
    let dir = ctx.config_dir.as_ref().ok_or_else(|| {
        Error::config(
            "no default location",
            "the home directory is unknown; pass --key PATH",
        )
    })?;
    Ok(dir.join(if alg.family() == AlgorithmFamily::Hmac {
        DEFAULT_SECRET
    } else {
        DEFAULT_PRIVATE
    }))
}

/// Creates a key for `alg` at `path` (0600, atomically, under the key's lock) and records
/// `alg` in `<path>.alg`. Refuses to replace an existing key unless `force`.
///
/// # Errors
/// Exit 8 when the key exists without `force`, or on I/O failure.
pub fn create(path: &Path, alg: Algorithm, force: bool) -> Result<()> {
    let _lock = store::lock(path, std::time::Duration::from_secs(10))?;
    if !force && path.exists() {
        return Err(Error::config(
            format!("key {}", path.display()),
            "already exists; pass --force to replace it (tokens signed with it will stop verifying)",
        ));
    }
    let material = match alg.family() {
        AlgorithmFamily::Hmac => new_secret()?,
        f => {
            return Err(Error::config(
                format!("{alg:?}"),
                format!("{} keys are not supported by this build", family_name(f)),
            ));
        }
    };
    store::write_atomic(path, |w| w.write_all(&material))?;
    store::write_atomic(&store::sidecar(path, ".alg"), |w| writeln!(w, "{alg:?}"))?;
    Ok(())
}

/// 512 random bits from the OS, as 86 base64url characters and a newline.
fn new_secret() -> Result<Zeroizing<Vec<u8>>> {
    let mut raw = Zeroizing::new([0u8; SECRET_BYTES]);
    getrandom::fill(raw.as_mut())
        .map_err(|e| Error::config("random number generator", e.to_string()))?;
    let mut text = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_ref()).into_bytes());
    text.push(b'\n');
    Ok(text)
}

impl crate::cli::Alg {
    /// The `jsonwebtoken` algorithm this flag value names.
    pub fn algorithm(self) -> Algorithm {
        use crate::cli::Alg;
        match self {
            Alg::HS256 => Algorithm::HS256,
            Alg::HS384 => Algorithm::HS384,
            Alg::HS512 => Algorithm::HS512,
        }
    }
}
