//! Signing and verifying keys: where they are (SPEC §1 "Keys"), how they are read, and
//! `init`, which creates them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use zeroize::Zeroizing;

use crate::alg::{self, Algorithm, KeyKind};
use crate::asym::{self, PublicKey};
use crate::error::{Error, KeyError, Place, Result, RetireRefused};
use crate::keyring::{self, Material, RetiredKey};
use crate::settings::{KeyConfig, KeySource, Settings};
use crate::store::file as store;

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
    /// What the key is; `verify` accepts exactly its algorithms (`KeyKind::algorithms`).
    pub kind: KeyKind,
    /// Default signing algorithm: from `<key file>.alg`, else the family's default.
    pub alg: Algorithm,
    /// The file, unless it came from `JWT_SECRET_KEY`.
    pub path: Option<PathBuf>,
    /// The header's `kid`: the RFC 7638 thumbprint for asymmetric keys; for an HMAC secret,
    /// its `id` once it has been rotated (a key ring with retired keys exists), else none, so
    /// the header of a never-rotated secret stays `{"alg","typ"}`.
    pub kid: Option<String>,
    /// The key's id, always known: the thumbprint, or `keyring::hmac_kid` of a secret.
    pub id: String,
    /// The keys `init --rotate` retired, from `<key file>.keys.json`, newest first. They
    /// verify until their `expires_at` (the `Verifier` checks it per token).
    pub retired: Vec<RetiredKey>,
    /// The public half of an asymmetric key (for `jwks`).
    pub public: Option<PublicKey>,
    /// A warning for whoever loaded the key (a secret readable by group or others); the
    /// front end decides whether and how to show it.
    pub warning: Option<String>,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    secret_len: Option<usize>,
    /// The secret of a key with no file (`JWT_SECRET_KEY`): what keys derived from it
    /// ([`material`]) are made from.
    own_secret: Option<Zeroizing<Vec<u8>>>,
    /// The refresh tokens' MAC key ([`Key::refresh_key`]), derived once per loaded key.
    refresh_key: std::sync::OnceLock<Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// An HS256 key of `secret` with no file, for the unit tests of other modules.
    #[cfg(test)]
    pub(crate) fn hmac_for_tests(secret: &[u8]) -> Self {
        Key::hmac(secret, Algorithm::HS256, None)
    }

    fn hmac(secret: &[u8], alg: Algorithm, path: Option<PathBuf>) -> Self {
        let own_secret = path.is_none().then(|| Zeroizing::new(secret.to_vec()));
        Key {
            kind: KeyKind::Hmac,
            alg,
            path,
            kid: None,
            id: keyring::hmac_kid(secret),
            retired: Vec::new(),
            public: None,
            encoding: Some(EncodingKey::from_secret(secret)),
            decoding: DecodingKey::from_secret(secret),
            secret_len: Some(secret.len()),
            warning: None,
            own_secret,
            refresh_key: std::sync::OnceLock::new(),
        }
    }

    fn asymmetric(parsed: asym::Parsed, alg: Algorithm, path: Option<PathBuf>) -> Self {
        Key {
            kind: parsed.public.kind(),
            alg,
            path,
            kid: Some(parsed.public.thumbprint()),
            id: parsed.public.thumbprint(),
            retired: Vec::new(),
            encoding: parsed.encoding_key(),
            decoding: parsed.public.decoding_key(),
            secret_len: None,
            warning: None,
            public: Some(parsed.public),
            own_secret: None,
            refresh_key: std::sync::OnceLock::new(),
        }
    }

    /// The key that refresh tokens are MACed with (SPEC §13): derived from this key's
    /// [`material`] under its own label, read once per loaded key.
    ///
    /// # Errors
    /// The key file cannot be read again.
    pub fn refresh_key(&self) -> Result<&[u8; 32]> {
        if let Some(k) = self.refresh_key.get() {
            return Ok(k);
        }
        let derived = derive(&material(None, self)?, b"jwtauth refresh token key v1");
        Ok(self.refresh_key.get_or_init(|| derived))
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
    /// shorter than 32 bytes (or an RSA key under 2048 bits) without `allow_weak`.
    pub fn encoding(&self, alg: Algorithm, allow_weak: bool) -> Result<&EncodingKey> {
        if !self.kind.algorithms().contains(&alg) {
            return Err(Error::key(
                format!("key {}", self.name()),
                format!(
                    "is {} key and cannot sign {} (it signs {})",
                    self.kind.article(),
                    alg::name(alg),
                    alg::names(self.kind.algorithms())
                ),
            ));
        }
        if let Some(bits) = self.public.as_ref().and_then(PublicKey::rsa_bits)
            && bits < asym::MIN_RSA_BITS
            && !allow_weak
        {
            return Err(Error::Key(KeyError::WeakRsa {
                key: self.name(),
                bits,
                min: asym::MIN_RSA_BITS,
            }));
        }
        if let Some(len) = self.secret_len
            && len < MIN_HMAC_BYTES
            && !allow_weak
        {
            return Err(Error::Key(KeyError::WeakHmac {
                key: self.name(),
                len,
                min: MIN_HMAC_BYTES,
            }));
        }
        self.encoding.as_ref().ok_or_else(|| {
            Error::key(
                format!("key {}", self.name()),
                "is a public key and cannot sign",
            )
        })
    }
}

/// What `paths` shows for the key: the file (if any) and its source.
pub fn describe(settings: &Settings) -> Result<(Option<PathBuf>, KeySource)> {
    Ok(match settings.key_config()? {
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
/// Exit 8 when no key is configured ([`KeyError::Missing`]), when an explicit key file does
/// not exist, when both default files exist, or when the file is unreadable.
pub fn load(settings: &Settings) -> Result<Key> {
    match locate(settings)? {
        Some(key) => Ok(key),
        None => Err(Error::Key(KeyError::Missing)),
    }
}

/// Loads the configured key; when none is configured anywhere, creates the default HMAC key
/// exactly as `init` would (the first `login` of a fresh install) and returns its path too, so
/// the front end can say so.
///
/// # Errors
/// As `load`, plus the errors of creating the key.
pub fn load_or_create(settings: &Settings) -> Result<(Key, Option<PathBuf>)> {
    if let Some(key) = locate(settings)? {
        return Ok((key, None));
    }
    let KeyConfig::Default { dir } = settings.key_config()? else {
        return load(settings).map(|k| (k, None));
    };
    let path = dir.join(DEFAULT_SECRET);
    let created = match create(settings.lock_timeout, &path, Algorithm::HS256, false) {
        Ok(_) => Some(path),
        // Another process created it first: use theirs.
        Err(Error::Key(_)) if path.exists() => None,
        Err(e) => return Err(e),
    };
    Ok((load(settings)?, created))
}

/// Loads the configured key if there is one; `None` when no key is configured anywhere (the
/// case in which the first successful `login` creates one).
///
/// # Errors
/// As `load`, except that having no key at all is not an error.
pub fn load_existing(settings: &Settings) -> Result<Option<Key>> {
    locate(settings)
}

fn locate(settings: &Settings) -> Result<Option<Key>> {
    locate_in(settings.key_config()?)
}

fn locate_in(config: &KeyConfig) -> Result<Option<Key>> {
    match config {
        KeyConfig::Secret(bytes) => {
            if bytes.is_empty() {
                return Err(Error::key("JWT_SECRET_KEY", "is set but empty"));
            }
            // RFC 8725 §2.1: a public key used as an HMAC secret lets anyone who has the
            // public key forge tokens. A PEM key is never taken as a secret.
            if asym::looks_like_pem(bytes) {
                return Err(Error::Key(KeyError::PemSecret));
            }
            Ok(Some(Key::hmac(bytes, Algorithm::HS256, None)))
        }
        KeyConfig::File { path, .. } => {
            if !path.exists() {
                // The user named this key: no hint to create one (it is usually someone
                // else's public key, and a typo must not be "fixed" by a new secret).
                return Err(Error::key(
                    format!("key {}", path.display()),
                    "does not exist",
                ));
            }
            read_key_file(path).map(Some)
        }
        KeyConfig::Default { dir } => {
            let secret = dir.join(DEFAULT_SECRET);
            let private = dir.join(DEFAULT_PRIVATE);
            match (secret.exists(), private.exists()) {
                (true, true) => Err(Error::Key(KeyError::TwoDefaults { secret, private })),
                (true, false) => read_key_file(&secret).map(Some),
                (false, true) => read_key_file(&private).map(Some),
                (false, false) => Ok(None),
            }
        }
    }
}

/// Largest key file read (a certificate chain is a few KiB; a secret far less).
const MAX_KEY_FILE: u64 = 1 << 20;

/// What keys derived from the signing key are made from (the device cookies' key, the
/// refresh tokens' key): `env_secret` (`JWT_SECRET_KEY`'s bytes) when given, else the
/// key's own secret when it has no file, else the key file as it is now. So every instance
/// with the key derives the same, across restarts, and a new key forgets them.
///
/// # Errors
/// The key file cannot be read.
pub fn material(env_secret: Option<&[u8]>, key: &Key) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(bytes) = env_secret.or(key.own_secret.as_ref().map(|s| s.as_slice())) {
        return Ok(Zeroizing::new(bytes.to_vec()));
    }
    match &key.path {
        Some(path) => read_bounded(path).map(Zeroizing::new),
        None => Ok(Zeroizing::new(key.id.clone().into_bytes())),
    }
}

/// A 32-byte key derived from `material` for one use, named by `label`
/// (HMAC-SHA256(material, label)).
pub fn derive(material: &[u8], label: &[u8]) -> Zeroizing<[u8; 32]> {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, material);
    let tag = ring::hmac::sign(&k, label);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(tag.as_ref());
    out
}

/// Reads a key file (see `parse_key`). A secret or private key file that group or others may
/// access gets a warning: it still works, since test secrets are often shared on purpose, but
/// a signing key should be 0600, as `init` writes it.
fn read_key_file(path: &Path) -> Result<Key> {
    let bytes = Zeroizing::new(read_bounded(path)?);
    let mut key = parse_key(path, &bytes)?;
    attach_ring(&mut key, path)?;
    // Only a secret is worth the warning: a public key or certificate is meant to be shared.
    if key.encoding.is_some()
        && let Some(mode) = loose_mode(path)
    {
        key.warning = Some(format!(
            "warning: key {} is accessible by group or others (mode {mode:04o}); run 'chmod 600 {}'",
            path.display(),
            path.display()
        ));
    }
    Ok(key)
}

/// Adds the retired keys of the ring beside `path`, if there is one. An HMAC secret with
/// retired keys beside it signs with its `kid`, so verifiers can choose without trying.
fn attach_ring(key: &mut Key, path: &Path) -> Result<()> {
    if let Some(ring) = keyring::load(path)? {
        key.retired = keyring::retired(path, &ring)?;
        if key.kind == KeyKind::Hmac && !key.retired.is_empty() {
            key.kid = Some(key.id.clone());
        }
    }
    Ok(())
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

/// Parses the bytes of a key file (`path` is for messages and its `.alg` sidecar): PEM (or
/// DER) for asymmetric keys — PKCS#8, SPKI, PKCS#1, SEC1 or an X.509 certificate — else an
/// HMAC secret as text (its bytes up to one optional trailing newline).
///
/// # Errors
/// Exit 8 for an empty, malformed or unsupported key.
pub fn parse_key(path: &Path, bytes: &[u8]) -> Result<Key> {
    let bad = |why: &str| Error::key(format!("key {}", path.display()), why);
    let parsed = if asym::looks_like_pem(bytes) {
        Some(asym::parse_pem(bytes).map_err(|why| bad(&why))?)
    } else if asym::looks_like_der(bytes) {
        Some(asym::parse_der(bytes).map_err(|why| bad(&why))?)
    } else {
        None
    };
    if let Some(parsed) = parsed {
        let alg = read_alg(path, parsed.public.kind())?;
        return Ok(Key::asymmetric(parsed, alg, Some(path.to_path_buf())));
    }
    let secret = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if secret.is_empty() {
        return Err(bad("is empty"));
    }
    let alg = read_alg(path, KeyKind::Hmac)?;
    Ok(Key::hmac(secret, alg, Some(path.to_path_buf())))
}

/// Reads a file of at most `MAX_KEY_FILE` bytes.
///
/// # Errors
/// Exit 8 when it is unreadable or larger.
pub fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(Error::key(
            path.display(),
            format!("is larger than {} KiB", MAX_KEY_FILE / 1024),
        ));
    }
    Ok(bytes)
}

/// What `<key file>.alg` records: `None` without that file, else its text parsed as an
/// algorithm (`Err` with the text when it names none).
fn recorded_alg(key_path: &Path) -> Result<Option<std::result::Result<Algorithm, String>>> {
    let Some(bytes) = store::read_optional(&store::sidecar(key_path, ".alg"))? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    Ok(Some(text.parse().map_err(|_| text)))
}

/// The algorithm recorded in `<key file>.alg`, or the kind's default.
fn read_alg(key_path: &Path, kind: KeyKind) -> Result<Algorithm> {
    let bad = |why: String| Error::key(store::sidecar(key_path, ".alg").display(), why);
    let alg = match recorded_alg(key_path)? {
        None => return Ok(kind.default_alg()),
        Some(Ok(alg)) => alg,
        Some(Err(text)) => return Err(bad(format!("unknown algorithm {text:?}"))),
    };
    if !kind.algorithms().contains(&alg) {
        return Err(bad(format!(
            "names {}, which {} key cannot sign",
            alg::name(alg),
            kind.article()
        )));
    }
    Ok(alg)
}

/// The default key file names: the one for `alg`'s family, then the other one.
fn default_names(alg: Algorithm) -> (&'static str, &'static str) {
    if alg::is_hmac(alg) {
        (DEFAULT_SECRET, DEFAULT_PRIVATE)
    } else {
        (DEFAULT_PRIVATE, DEFAULT_SECRET)
    }
}

/// Where `init` writes: `--key`, else `JWTAUTH_KEY_FILE`, else the default file for `alg`.
///
/// # Errors
/// A configuration error when no home directory is known.
pub fn init_path(settings: &Settings, alg: Algorithm) -> Result<PathBuf> {
    if let Some(p) = &settings.key_file {
        return Ok(p.clone());
    }
    let dir = settings
        .config_dir
        .as_ref()
        .ok_or(Error::NoHome(Place::Key))?;
    Ok(dir.join(default_names(alg).0))
}

/// What `init` made.
#[derive(Debug, Default)]
pub struct Created {
    /// The public key file written beside an asymmetric private key.
    pub public_path: Option<PathBuf>,
    /// The new key's `kid` (asymmetric keys).
    pub kid: Option<String>,
    /// The public key of the asymmetric key this HMAC secret replaced, now removed.
    pub removed_public: Option<PathBuf>,
}

/// Whether `<path>.alg` records an asymmetric algorithm, i.e. `init` made a PEM key pair at
/// `path`. Unreadable or unknown records count as no.
fn made_asymmetric(path: &Path) -> bool {
    matches!(recorded_alg(path), Ok(Some(Ok(alg))) if !alg::is_hmac(alg))
}

/// Where `init` writes the public key of the private key at `path`: `public.pem` beside
/// `private.pem` (any `private` in the file name becomes `public`), else `<name>.pub.pem`.
pub fn public_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let public = if name.contains("private") {
        name.replacen("private", "public", 1)
    } else {
        let stem = name.strip_suffix(".pem").unwrap_or(&name);
        format!("{stem}.pub.pem")
    };
    path.with_file_name(public)
}

/// The other default key file when `init` writes to the default location: `private.pem`
/// for an HMAC key, `secret` for an asymmetric one. `None` for an explicit key path.
pub fn other_default(settings: &Settings, alg: Algorithm) -> Option<PathBuf> {
    if settings.key_file.is_some() {
        return None;
    }
    Some(settings.config_dir.as_ref()?.join(default_names(alg).1))
}

/// Removes a key file with its `.alg` record and its key ring (and, for a PEM key, the public
/// key `init` wrote beside it).
///
/// # Errors
/// Exit 8 on I/O failure.
pub fn remove(lock_timeout: Duration, path: &Path) -> Result<()> {
    let _lock = store::lock(path, lock_timeout)?;
    let mut files = vec![
        path.to_path_buf(),
        store::sidecar(path, ".alg"),
        keyring::path(path),
    ];
    if path.file_name().is_some_and(|n| n == DEFAULT_PRIVATE) {
        files.push(public_path(path));
    }
    for f in files {
        match std::fs::remove_file(&f) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&f, e)),
            _ => {}
        }
    }
    Ok(())
}

/// Creates a key for `alg` at `path` (0600, atomically, under the key's lock) and records
/// `alg` in `<path>.alg`. An asymmetric key is a PKCS#8 PEM private key, with its SPKI PEM
/// public key written beside it (`public_path`). Refuses to replace an existing key (or
/// public key file) unless `force`.
///
/// # Errors
/// Exit 8 when the key exists without `force`, or on I/O failure.
pub fn create(lock_timeout: Duration, path: &Path, alg: Algorithm, force: bool) -> Result<Created> {
    let _lock = store::lock(path, lock_timeout)?;
    let exists = |p: &Path| -> Result<()> {
        if !force && p.exists() {
            return Err(Error::Key(KeyError::Exists {
                path: p.to_path_buf(),
            }));
        }
        Ok(())
    };
    // A verifier's public key or certificate is never turned into a signing key, not even with
    // --force: whoever shipped it would suddenly hold a file that signs.
    if std::fs::metadata(path).is_ok_and(|m| m.is_file()) && holds_public_key(&read_bounded(path)?)
    {
        return Err(Error::Key(KeyError::PublicKeyFile {
            path: path.to_path_buf(),
        }));
    }
    exists(path)?;
    let kind = KeyKind::of(alg);
    let mut created = Created::default();
    if kind == KeyKind::Hmac {
        // A private key that init made here had its public key written beside it; once the
        // private key is replaced by a secret, that file would still verify old tokens.
        let stale = made_asymmetric(path).then(|| public_path(path));
        let material = new_secret()?;
        store::write_atomic(path, |w| w.write_all(&material))?;
        if let Some(stale) = stale {
            match std::fs::remove_file(&stale) {
                Ok(()) => created.removed_public = Some(stale),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&stale, e)),
            }
        }
    } else {
        let public_path = public_path(path);
        exists(&public_path)?;
        let (private_pem, public) = asym::generate(kind)
            .map_err(|e| Error::key(format!("generating {} key", kind.name()), e))?;
        let public_pem = public
            .to_pem()
            .map_err(|e| Error::key(format!("encoding {} public key", kind.name()), e))?;
        store::write_atomic(path, |w| w.write_all(private_pem.as_bytes()))?;
        store::write_atomic(&public_path, |w| w.write_all(public_pem.as_bytes()))?;
        created.kid = Some(public.thumbprint());
        created.public_path = Some(public_path);
    }
    store::write_atomic(&store::sidecar(path, ".alg"), |w| {
        writeln!(w, "{}", alg::name(alg))
    })?;
    Ok(created)
}

/// True when `bytes` are a public key or a certificate (PEM or DER) with no private key.
fn holds_public_key(bytes: &[u8]) -> bool {
    if asym::looks_like_pem(bytes) {
        let text = String::from_utf8_lossy(bytes);
        if text.contains("-----BEGIN CERTIFICATE") || text.contains(" PUBLIC KEY-----") {
            return !text.contains("PRIVATE KEY-----");
        }
        return asym::parse_pem(bytes).is_ok_and(|p| p.encoding_key().is_none());
    }
    asym::looks_like_der(bytes) && asym::parse_der(bytes).is_ok_and(|p| p.encoding_key().is_none())
}

/// 512 random bits from the OS, as 86 base64url characters and a newline.
fn new_secret() -> Result<Zeroizing<Vec<u8>>> {
    let mut raw = Zeroizing::new([0u8; SECRET_BYTES]);
    crate::random::fill_random(raw.as_mut())?;
    let mut text = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_ref()).into_bytes());
    text.push(b'\n');
    Ok(text)
}

/// Extra time a retired key verifies beyond the longest token lifetime, by default: a login
/// that read the old key just before the rotation may still sign with it.
pub const ROTATION_GRACE: i64 = 60;

/// What `init --rotate` did.
#[derive(Debug)]
pub struct Rotated {
    /// The key that stopped signing.
    pub old_kid: String,
    /// The new signing key.
    pub kid: String,
    /// When the old key stops verifying.
    pub expires_at: i64,
    /// The public key file written beside a new asymmetric key.
    pub public_path: Option<PathBuf>,
    /// The public key file of an asymmetric key replaced by a secret, now removed.
    pub removed_public: Option<PathBuf>,
    /// How many retired keys whose time had passed were dropped.
    pub dropped: usize,
}

/// Rotates the key at `path` at time `now`: the current key is retired into the key ring
/// (`<path>.keys.json`) until `now + keep`, where `keep` is `--keep`, else the longest token
/// lifetime it is known to have signed (the configured `ttl`, or the longer lifetime `login`
/// / `mint` recorded) plus `ROTATION_GRACE`; then a new key for `alg` replaces it, and the
/// ring records it as current. Retired keys whose time has passed are dropped.
///
/// The ring is written (with the old key retired) before the key is replaced, so a crash in
/// between leaves the old key both current and retired, which verifies as before.
///
/// # Errors
/// Exit 8 when the key file is not a signing key (a public key, a certificate), on a corrupt
/// ring (left untouched), on lock time-out or I/O failure.
pub fn rotate(
    lock_timeout: Duration,
    path: &Path,
    alg: Algorithm,
    keep: Option<i64>,
    ttl: i64,
    now: i64,
) -> Result<Rotated> {
    let ring_path = keyring::path(path);
    let _lock = store::lock(&ring_path, lock_timeout)?;
    let mut ring: keyring::Ring = store::load(&ring_path)?;
    let bytes = Zeroizing::new(read_bounded(path)?);
    let old = parse_key(path, &bytes)?;
    if old.encoding.is_none() {
        return Err(Error::key(
            format!("key {}", path.display()),
            "is a public key or certificate, not a signing key; there is nothing to rotate",
        ));
    }
    let known = ring.current_of(&old.id).cloned().unwrap_or_default();
    let keep = keep.unwrap_or_else(|| {
        ttl.max(known.max_ttl.unwrap_or(0))
            .saturating_add(ROTATION_GRACE)
    });
    let material = match &old.public {
        Some(public) => Material::Public(public.to_pem().map_err(|e| {
            Error::key(format!("encoding the public key of {}", path.display()), e)
        })?),
        None => Material::Secret(Zeroizing::new(
            bytes.strip_suffix(b"\n").unwrap_or(&bytes).to_vec(),
        )),
    };
    let before = ring.retired.len();
    ring.prune(now);
    let dropped = before - ring.retired.len();
    let expires_at = now.saturating_add(keep);
    ring.retired.retain(|r| r.kid != old.id);
    ring.retired.insert(
        0,
        keyring::record(
            &old.id,
            old.alg,
            known.created_at.or_else(|| modified(path)),
            now,
            expires_at,
            material,
        ),
    );
    ring.current = None;
    store::write_atomic(&ring_path, |w| store::Document::write(&ring, w))?;
    let created = create(lock_timeout, path, alg, true)?;
    let new = parse_key(path, &read_bounded(path)?)?;
    ring.current = Some(keyring::Current {
        kid: new.id.clone(),
        created_at: Some(now),
        ..keyring::Current::default()
    });
    store::write_atomic(&ring_path, |w| store::Document::write(&ring, w))?;
    Ok(Rotated {
        old_kid: old.id,
        kid: new.id,
        expires_at,
        public_path: created.public_path,
        removed_public: created.removed_public,
        dropped,
    })
}

/// Records that `key` signed a token living `ttl` seconds, when that is longer than the
/// configured `default_ttl` and than what the ring already records, so a later rotation keeps
/// the key long enough (retired keys past their time at `now` are dropped by the same write).
/// Tokens of the configured lifetime cost nothing here: no file is read or written.
///
/// # Errors
/// Exit 8 on a corrupt ring, lock time-out or I/O failure.
pub fn note_ttl(
    lock_timeout: Duration,
    key: &Key,
    ttl: i64,
    default_ttl: i64,
    now: i64,
) -> Result<()> {
    let Some(path) = &key.path else {
        return Ok(());
    };
    if ttl <= default_ttl || key.encoding.is_none() {
        return Ok(());
    }
    if let Some(ring) = keyring::load(path)?
        && ring
            .current_of(&key.id)
            .and_then(|c| c.max_ttl)
            .is_some_and(|m| m >= ttl)
    {
        return Ok(());
    }
    keyring::update(path, lock_timeout, |ring| {
        let current = ring.current_mut(&key.id);
        current.max_ttl = Some(current.max_ttl.unwrap_or(0).max(ttl));
        ring.prune(now);
        Ok(())
    })
}

/// Drops the retired key `kid` of the key file at `key.path` now (and every retired key whose
/// time has passed at `now`). Returns how many expired keys were dropped besides.
///
/// # Errors
/// A usage error (exit 2) for the current key or an unknown `kid`; exit 8 on a corrupt ring,
/// lock time-out or I/O failure.
pub fn retire(lock_timeout: Duration, key: &Key, kid: &str, now: i64) -> Result<usize> {
    let refused = |why| Error::Retire {
        kid: kid.to_string(),
        why,
    };
    if kid == key.id {
        return Err(refused(RetireRefused::Current));
    }
    let unknown = || refused(RetireRefused::Unknown);
    let Some(path) = key.path.as_deref().filter(|p| keyring::path(p).exists()) else {
        return Err(unknown());
    };
    keyring::update(path, lock_timeout, |ring| {
        let before = ring.retired.len();
        ring.retired.retain(|r| r.kid != kid);
        if ring.retired.len() == before {
            return Err(unknown());
        }
        let before = ring.retired.len();
        ring.prune(now);
        Ok(before - ring.retired.len())
    })
}

/// The public JWKs of `key` and of its retired keys still live at `now` (current first);
/// empty when none is asymmetric.
pub fn jwks(key: &Key, now: i64) -> Vec<jsonwebtoken::jwk::Jwk> {
    let current = key.public.as_ref().map(|p| p.jwk(key.alg));
    let retired = key
        .retired
        .iter()
        .filter(|r| r.live(now))
        .filter_map(|r| r.public.as_ref().map(|p| p.jwk(r.alg)));
    current.into_iter().chain(retired).collect()
}

/// When the file at `path` was last written (unix seconds), if the system says.
pub fn modified(path: &Path) -> Option<i64> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// What `LiveKeys` reports when the files it watches changed (`stat`): the key set was
/// reloaded, or the new files could not be loaded (the last good set stays).
#[derive(Debug)]
pub enum KeyEvent<'a> {
    /// The files changed and were loaded with another signing key or another set of
    /// retired keys (or after a failure): the key that signs now.
    Reloaded { id: &'a str, retired: usize },
    /// The files changed and could not be loaded (or built into `T`): the last good set
    /// still verifies; `LiveKeys::current` says it is stale, so nothing signs with it.
    Failed(&'a Error),
}

/// The configured key as it is on disk now, for a long-running process (`serve`): the loaded
/// key with the retired keys of its ring, built into `T` (e.g. the key and its verifiers).
///
/// Every `current` takes the identity (`store::stamp`: size, mtime, ctime, inode, device) of
/// the key file, its `.alg` record, its key ring `<key file>.keys.json` (and, for the default
/// location, the other default file), and compares it with the one the set was loaded from:
/// a few `stat`s and an `Arc` clone while nothing changed. When something changed, the key is
/// loaded again and `T` rebuilt once (other requests keep the set they have meanwhile), so
/// `init --rotate`, `keys retire` and `init --force` count from the next request. A key from
/// `JWT_SECRET_KEY` has no file: nothing is watched.
///
/// When the changed files cannot be loaded (a corrupt or unreadable key or ring), the last
/// good set is kept for verifying and marked stale (`Current::stale`): a signer should refuse
/// to sign rather than sign with a key that may have been replaced. The next change retries.
pub struct LiveKeys<T> {
    config: KeyConfig,
    build: Box<dyn Fn(Key) -> Result<T> + Send + Sync>,
    on_event: Box<dyn Fn(KeyEvent<'_>) + Send + Sync>,
    state: RwLock<Loaded<T>>,
}

/// A loaded set and the identities of the files it was loaded from.
struct Loaded<T> {
    watched: Vec<PathBuf>,
    stamps: Vec<Option<[u64; 5]>>,
    set: Arc<T>,
    stale: bool,
    /// The signing key's id and how many retired keys it has: a reload that changes neither
    /// (a ring rewritten by `note_ttl`, a `SIGHUP`) is not reported as a key change.
    keys: (String, usize),
}

/// The set to use for one request.
pub struct Current<T> {
    /// The last good set.
    pub set: Arc<T>,
    /// True when the key files changed since and could not be loaded.
    pub stale: bool,
}

impl<T> std::fmt::Debug for LiveKeys<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveKeys").finish_non_exhaustive()
    }
}

impl<T> LiveKeys<T> {
    /// Watches the key of `settings`, starting from `key` (loaded from it by the caller);
    /// `build` makes the set from each loaded key, `on_event` hears of every reload.
    ///
    /// # Errors
    /// A configuration error when no key is configured; `build`'s error for `key`.
    pub fn new(
        settings: &Settings,
        key: Key,
        build: impl Fn(Key) -> Result<T> + Send + Sync + 'static,
        on_event: impl Fn(KeyEvent<'_>) + Send + Sync + 'static,
    ) -> Result<Self> {
        let config = settings.key_config()?.clone();
        let watched = watched_files(&config, &key);
        let keys = (key.id.clone(), key.retired.len());
        let set = Arc::new(build(key)?);
        // Taken after `build`, which may record a lifetime in the ring (`note_ttl`): that
        // write is not a change to reload for.
        let stamps = stamps_of(&watched);
        Ok(LiveKeys {
            config,
            build: Box::new(build),
            on_event: Box::new(on_event),
            state: RwLock::new(Loaded {
                watched,
                stamps,
                set,
                stale: false,
                keys,
            }),
        })
    }

    /// The current set: reloaded first when the key files changed since it was loaded.
    pub fn current(&self) -> Current<T> {
        {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            if stamps_of(&state.watched) == state.stamps {
                return Current {
                    set: Arc::clone(&state.set),
                    stale: state.stale,
                };
            }
        }
        self.reload(false)
    }

    /// Loads the key again (and rebuilds the set) now, whether or not its files changed
    /// (`SIGHUP`, or when what `build` depends on changed).
    pub fn reload_now(&self) -> Current<T> {
        self.reload(true)
    }

    fn reload(&self, force: bool) -> Current<T> {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        // The stamps are taken before the read: a change in between only causes one more
        // reload on the next call, never a stale set that lasts.
        let stamps = stamps_of(&state.watched);
        if !force && stamps == state.stamps {
            return Current {
                set: Arc::clone(&state.set),
                stale: state.stale,
            };
        }
        let loaded = locate_in(&self.config).and_then(|key| {
            let key = key.ok_or_else(|| Error::key("no signing key", "the key file is gone"))?;
            let watched = watched_files(&self.config, &key);
            let (id, retired) = (key.id.clone(), key.retired.len());
            Ok((watched, id, retired, (self.build)(key)?))
        });
        match loaded {
            Ok((watched, id, retired, set)) => {
                // Files the new key has that the old one had not (a new default file) are
                // stamped now; the ones watched before keep the stamps taken before the read.
                state.stamps = if watched == state.watched {
                    stamps
                } else {
                    stamps_of(&watched)
                };
                state.watched = watched;
                state.set = Arc::new(set);
                let was_stale = std::mem::replace(&mut state.stale, false);
                if was_stale || state.keys != (id.clone(), retired) {
                    (self.on_event)(KeyEvent::Reloaded { id: &id, retired });
                }
                state.keys = (id, retired);
            }
            Err(e) => {
                state.stamps = stamps;
                state.stale = true;
                (self.on_event)(KeyEvent::Failed(&e));
            }
        }
        Current {
            set: Arc::clone(&state.set),
            stale: state.stale,
        }
    }
}

/// The files whose change means `key` must be loaded again: the key file, its `.alg` record
/// and its key ring, plus the other default file when the key is in the default location
/// (`init --force --alg` there replaces one default file with the other). None for
/// `JWT_SECRET_KEY`.
fn watched_files(config: &KeyConfig, key: &Key) -> Vec<PathBuf> {
    let Some(path) = &key.path else {
        return Vec::new();
    };
    let mut files = vec![
        path.clone(),
        store::sidecar(path, ".alg"),
        keyring::path(path),
    ];
    if let KeyConfig::Default { dir } = config {
        for name in [DEFAULT_SECRET, DEFAULT_PRIVATE] {
            let other = dir.join(name);
            if other != *path {
                files.push(other);
            }
        }
    }
    files
}

/// The identity of each file's current version (`None`: there is none, or it cannot be
/// looked at).
fn stamps_of(files: &[PathBuf]) -> Vec<Option<[u64; 5]>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).ok().map(|m| store::stamp(&m)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn settings(path: &Path) -> Settings {
        Settings {
            users: None,
            state: None,
            key: Some(KeyConfig::File {
                path: path.to_path_buf(),
                source: crate::settings::KeySource::Flag,
            }),
            key_file: Some(path.to_path_buf()),
            config_dir: None,
            lock_timeout: Duration::from_secs(5),
            redis: crate::store::RedisOptions {
                prefix: String::new(),
                timeout: Duration::from_secs(1),
                password: None,
            },
            config: crate::config::Config::default(),
        }
    }

    /// Unchanged files cost no reload (the same set); a change is seen by the next call; a
    /// broken file keeps the last good set, marked stale, until a good one replaces it.
    #[test]
    fn live_keys_reload_only_when_the_files_change() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "a".repeat(40)).expect("write");
        let settings = settings(&path);
        let built = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&built);
        let live = LiveKeys::new(
            &settings,
            load(&settings).expect("key"),
            move |key| {
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(key.id)
            },
            |_| {},
        )
        .expect("live keys");
        let first = live.current();
        assert!(Arc::ptr_eq(&first.set, &live.current().set));
        assert_eq!(built.load(Ordering::Relaxed), 1);

        std::fs::write(&path, "b".repeat(41)).expect("write");
        let second = live.current();
        assert_ne!(first.set, second.set);
        assert!(!second.stale);
        assert_eq!(built.load(Ordering::Relaxed), 2);

        std::fs::write(&path, "").expect("write");
        let broken = live.current();
        assert_eq!(broken.set, second.set);
        assert!(broken.stale);
        // Tried once per change, not per call.
        live.current();
        assert_eq!(built.load(Ordering::Relaxed), 2);

        std::fs::write(&path, "c".repeat(42)).expect("write");
        let third = live.current();
        assert!(!third.stale);
        assert_ne!(third.set, second.set);
    }
}
