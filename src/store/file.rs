//! The file layer every store stands on: 0600 files in 0700 directories, atomic replace,
//! an exclusive sidecar lock around read-modify-write, and strict parsing that never
//! overwrites a file it could not read.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

use crate::error::{Error, Result, StoreError};

/// Mode of every file jwtauth creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every directory jwtauth creates.
pub const DIR_MODE: u32 = 0o700;
/// The only file format version this build reads and writes.
pub const FORMAT_VERSION: u64 = 1;
/// The newest state file (`revocations.json`) version this build reads: 2 once it holds
/// sessions (SPEC §13), so that an older jwtauth refuses it instead of ignoring them.
pub const STATE_VERSION: u64 = 2;

/// An exclusive advisory lock on `<file>.lock`, released when dropped (or when the process
/// dies, so a killed writer never leaves a stale lock behind).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Forget the holder's pid before releasing, so a later waiter never names a process
        // that has long finished. Best effort, like recording it.
        let _ = self._file.set_len(0);
    }
}

/// `<path><suffix>`, e.g. `users.json` → `users.json.lock`.
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Takes the exclusive lock that guards `path`'s read-modify-write, waiting at most `timeout`.
///
/// # Errors
/// `Error::Locked` when another process holds it past the timeout; `Error::Io` when the lock
/// file cannot be created.
pub fn lock(path: &Path, timeout: Duration) -> Result<Lock> {
    // The lock belongs to the file written, which for a symbolic link is its target.
    let target = resolve_links(path);
    let path = target.as_path();
    ensure_parent(path)?;
    let lock_path = sidecar(path, ".lock");
    let mut file = open_private(
        &lock_path,
        OpenOptions::new().read(true).write(true).create(true),
    )
    .map_err(|e| Error::io(&lock_path, e))?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) => {
                if start.elapsed() >= timeout {
                    let mut text = String::new();
                    let pid = file
                        .read_to_string(&mut text)
                        .ok()
                        .and_then(|_| text.trim().parse().ok());
                    return Err(StoreError::Locked {
                        path: path.to_path_buf(),
                        pid,
                        secs: timeout.as_secs_f64(),
                    }
                    .into());
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
    }
    // Record the holder so a waiter that gives up can name it. Best effort: the lock
    // itself is what matters.
    let _ = file
        .set_len(0)
        .and_then(|()| write!(file, "{}", std::process::id()));
    Ok(Lock { _file: file })
}

/// `path` with its symbolic links followed to the file they name (which need not exist), like
/// htpasswd writes through a link: the link stays, its target is replaced (SPEC §8). A path
/// that is not a link, or a loop of links, is returned as it is.
fn resolve_links(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    // Linux gives up after 40 links (ELOOP); so do we.
    for _ in 0..40 {
        match fs::read_link(&p) {
            Ok(target) => p = dir_of(&p).join(target),
            Err(_) => return p,
        }
    }
    path.to_path_buf()
}

/// Reads a whole file; a missing file is `None` (it reads as empty).
///
/// # Errors
/// `Error::Io` for any other failure, naming the path.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Parses JSON from `bytes`, reporting line and column against `path` on failure.
///
/// # Errors
/// `Error::Corrupt` naming the path, line and column.
pub fn parse_json<'a, T: serde::Deserialize<'a>>(path: &Path, bytes: &'a [u8]) -> Result<T> {
    // serde would read a struct from a JSON array too (`[1, {…}]`); the files are objects.
    if let Some(i) = bytes.iter().position(|b| !b.is_ascii_whitespace())
        && bytes[i] != b'{'
    {
        let (line, column) = line_col(bytes, i);
        return Err(corrupt(
            path,
            format!(
                "not a valid jwtauth file at line {line} column {column}: expected a JSON object"
            ),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| corrupt_json(path, &e))
}

/// The `Corrupt` error for a serde_json failure on `path`.
pub fn corrupt_json(path: &Path, e: &serde_json::Error) -> Error {
    corrupt(
        path,
        format!(
            "not a valid jwtauth file at line {} column {}: {}",
            e.line(),
            e.column(),
            strip_position(e)
        ),
    )
}

/// The `Corrupt` error for `path`: what is wrong, and that the file was left alone.
pub fn corrupt(path: &Path, what: String) -> Error {
    Error::corrupt(
        path,
        format!("{what}; fix or move it away (it was not changed)"),
    )
}

/// The 1-based line and column of byte `offset` in `text`.
pub fn line_col(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |n| n + 1);
    (
        before.iter().filter(|&&b| b == b'\n').count() + 1,
        offset - line_start + 1,
    )
}

/// A serde_json message without its trailing " at line L column C".
pub fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Refuses a file whose `version` is not the one this build knows.
///
/// # Errors
/// `Error::Corrupt` for any other version.
pub fn check_version(path: &Path, version: u64) -> Result<()> {
    if version == FORMAT_VERSION {
        Ok(())
    } else {
        Err(Error::corrupt(
            path,
            format!(
                "unsupported file version {version} (this jwtauth reads version {FORMAT_VERSION}); it was not changed"
            ),
        ))
    }
}

/// Refuses a file whose `version` is not one from [`FORMAT_VERSION`] to `newest`.
///
/// # Errors
/// `Error::Corrupt` for any other version.
pub fn check_version_upto(path: &Path, version: u64, newest: u64) -> Result<()> {
    if (FORMAT_VERSION..=newest).contains(&version) {
        Ok(())
    } else {
        Err(Error::corrupt(
            path,
            format!(
                "unsupported file version {version} (this jwtauth reads versions {FORMAT_VERSION} to {newest}); it was not changed"
            ),
        ))
    }
}

/// Creates the missing parent directories of `path` with mode 0700.
///
/// # Errors
/// `Error::Io` naming the directory.
pub fn ensure_parent(path: &Path) -> Result<()> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir).map_err(|e| Error::io(dir, e))
}

/// Replaces `path` atomically with what `fill` writes: a temp file in the same directory,
/// fsync, rename over `path`, fsync the directory. A symbolic link is written through (the
/// temp file goes beside its target). A file that is replaced keeps its owner, group and mode
/// (a mode is never widened); a new file is 0600. The caller holds the lock.
///
/// # Errors
/// `Error::Io` naming the path; `path` is left as it was.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    replace(path, fill, true)
}

/// [`write_atomic`] for a cache checked against the file it was made from (the revocation
/// index): the contents are on disk before the rename, but the rename itself is not waited
/// for (no fsync of the directory), so a crash can only leave the previous version, which
/// readers see as stale and ignore.
///
/// # Errors
/// As `write_atomic`.
pub fn write_cache(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    replace(path, fill, false)
}

fn replace(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    durable_rename: bool,
) -> Result<()> {
    let target = resolve_links(path);
    let path = target.as_path();
    ensure_parent(path)?;
    let dir = dir_of(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let err = |e: io::Error| Error::io(path, e);
    let prefix = temp_prefix(&name);
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(&prefix)
        .suffix(".tmp")
        .rand_bytes(TEMP_RAND_CHARS);
    #[cfg(unix)]
    builder.permissions(fs::Permissions::from_mode(FILE_MODE));
    let tmp = builder.tempfile_in(dir).map_err(err)?;
    #[cfg(unix)]
    keep_owner_and_mode(tmp.as_file(), fs::metadata(path).ok().as_ref()).map_err(err)?;
    let mut out = BufWriter::with_capacity(1 << 16, tmp);
    fill(&mut out).map_err(err)?;
    let tmp = out.into_inner().map_err(|e| err(e.into_error()))?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    // The rename is durable only once the directory entry is.
    #[cfg(unix)]
    if durable_rename {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = durable_rename;
    Ok(())
}
/// Gives the temp file `tmp` the owner, group and mode of the file it will replace (`old`), or
/// mode 0600 for a new file. A group that cannot be kept (not root, not a member) leaves the
/// temp file's group, and then the group bits are dropped: the mode is never wider than before.
#[cfg(unix)]
fn keep_owner_and_mode(tmp: &File, old: Option<&fs::Metadata>) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, fchown};
    let Some(old) = old else {
        return tmp.set_permissions(fs::Permissions::from_mode(FILE_MODE));
    };
    let mut mode = old.mode() & 0o777;
    let now = tmp.metadata()?;
    if (now.uid(), now.gid()) != (old.uid(), old.gid()) {
        // Owner and group at once (root), else the group alone (a member may).
        if fchown(tmp, Some(old.uid()), Some(old.gid())).is_err() {
            let _ = fchown(tmp, None, Some(old.gid()));
        }
        let now = tmp.metadata()?;
        if now.gid() != old.gid() {
            mode &= 0o700;
        }
    }
    // After the chown, which may clear set-id bits; the mode comes last.
    tmp.set_permissions(fs::Permissions::from_mode(mode))
}

/// The directory holding `path` (`.` for a bare file name).
fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// How the names of `name`'s temp files begin; they end in `.tmp`.
fn temp_prefix(name: &str) -> String {
    format!(".{name}.")
}

/// Removes the temp files (`.<name>.XXXXXX.tmp`) that writers killed mid-write left next to
/// `path`. Only a holder of `path`'s lock may call this: every live writer of `path` holds
/// that lock while its temp file exists, so any such file seen now is an orphan. Best effort.
pub fn remove_stale_temps(path: &Path) {
    let target = resolve_links(path);
    let path = target.as_path();
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir_of(path)) else {
        return;
    };
    let prefix = temp_prefix(name);
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(f) = file_name.to_str() else {
            continue;
        };
        if let Some(mid) = f
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            && mid.len() == TEMP_RAND_CHARS
            && mid.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Random characters in a temp file name (between `.<name>.` and `.tmp`).
const TEMP_RAND_CHARS: usize = 6;

/// Opens (creating if needed) a file with mode 0600.
///
/// # Errors
/// The underlying I/O error.
pub fn open_private(path: &Path, opts: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(opts, FILE_MODE);
    opts.open(path)
}

/// Writes a JSON string (with its quotes) for `s`.
///
/// # Errors
/// The writer's error.
pub fn write_json_str(out: &mut dyn Write, s: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, s).map_err(io::Error::other)
}

/// A file format kept by the store: parsed strictly, written whole.
pub trait Document: Sized {
    /// The document a missing file stands for.
    fn empty() -> Self;
    /// Parses the file's bytes (`path` is for error messages).
    ///
    /// # Errors
    /// `Error::Corrupt` when the bytes are not a valid document of this kind.
    fn parse(path: &Path, bytes: &[u8]) -> Result<Self>;
    /// As `parse`, taking the bytes (a document that keeps the file's text saves a copy).
    ///
    /// # Errors
    /// As `parse`.
    fn parse_owned(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        Self::parse(path, &bytes)
    }
    /// Writes the whole document.
    ///
    /// # Errors
    /// The writer's error.
    fn write(&self, out: &mut dyn Write) -> io::Result<()>;
}

/// Reads a document without locking (writers replace files atomically, so a reader always
/// sees a whole file). A missing file reads as empty, and so does a 0-byte one (`touch
/// users.json`, or a file an administrator created empty with its owner and mode ready,
/// SPEC §15): the next write replaces it keeping that owner and mode. Anything else that does
/// not parse, whitespace included, is corrupt and left alone.
///
/// # Errors
/// `Error::Io` or `Error::Corrupt`, naming the path.
pub fn load<D: Document>(path: &Path) -> Result<D> {
    match read_optional(path)? {
        Some(bytes) if bytes.is_empty() => Ok(D::empty()),
        Some(bytes) => D::parse_owned(path, bytes),
        None => Ok(D::empty()),
    }
}

/// Read-modify-write under the exclusive lock: `change` sees the current document and the
/// result is written atomically only if it returns `Ok`. A file that does not parse is
/// never overwritten.
///
/// # Errors
/// `change`'s error, or the lock, parse and write errors of this layer.
pub fn update<D: Document, T>(
    path: &Path,
    timeout: Duration,
    change: impl FnOnce(&mut D) -> Result<T>,
) -> Result<T> {
    update_with(path, timeout, None, change)
}

/// What identifies one version of a file: size, mtime, ctime, inode, device. Every atomic
/// rewrite changes the inode; any edit in place changes ctime.
pub fn stamp(meta: &fs::Metadata) -> [u64; 5] {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| {
            (s as u64)
                .wrapping_mul(1_000_000_000)
                .wrapping_add(n as u64)
        };
        [
            meta.len(),
            ns(meta.mtime(), meta.mtime_nsec()),
            ns(meta.ctime(), meta.ctime_nsec()),
            meta.ino(),
            meta.dev(),
        ]
    }
    #[cfg(not(unix))]
    {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        [meta.len(), mtime, 0, 0, 0]
    }
}

fn stamp_of(path: &Path) -> Option<[u64; 5]> {
    fs::metadata(path).ok().map(|m| stamp(&m))
}

/// A document read ahead of its update (without the lock), with the identity of the file
/// version it came from. `update_with` uses it only if the file is still that version once
/// the lock is held, so reading ahead can overlap slow work (bcrypt) safely.
pub struct ReadAhead<D> {
    doc: D,
    stamp: Option<[u64; 5]>,
}

impl<D> ReadAhead<D> {
    /// The document as it was read.
    pub fn doc(&self) -> &D {
        &self.doc
    }
}

/// Reads `path` for a later `update_with`; `None` when it cannot (the update then reads it
/// again under the lock and reports any error).
pub fn read_ahead<D: Document>(path: &Path) -> Option<ReadAhead<D>> {
    let stamp = stamp_of(path);
    let doc = load(path).ok()?;
    // A file replaced while it was read could mix versions: only a stable one is kept.
    (stamp_of(path) == stamp).then_some(ReadAhead { doc, stamp })
}

/// `update`, starting from a document read ahead when the file has not changed since.
///
/// # Errors
/// As `update`.
pub fn update_with<D: Document, T>(
    path: &Path,
    timeout: Duration,
    ahead: Option<ReadAhead<D>>,
    change: impl FnOnce(&mut D) -> Result<T>,
) -> Result<T> {
    update_then(path, timeout, ahead, change, |_| {})
}

/// `update_with`, then `after` with the document as written, still under the lock (for files
/// derived from it).
///
/// # Errors
/// As `update`.
pub fn update_then<D: Document, T>(
    path: &Path,
    timeout: Duration,
    ahead: Option<ReadAhead<D>>,
    change: impl FnOnce(&mut D) -> Result<T>,
    after: impl FnOnce(&D),
) -> Result<T> {
    let _lock = lock(path, timeout)?;
    remove_stale_temps(path);
    let mut doc = match ahead {
        Some(a) if a.stamp == stamp_of(path) => a.doc,
        _ => load::<D>(path)?,
    };
    let out = change(&mut doc)?;
    write_atomic(path, |w| doc.write(w))?;
    after(&doc);
    Ok(out)
}

/// `update`, but the file is rewritten only when `change` returns `Some`: a compare-and-set
/// whose comparison failed leaves the file (and its stamp) as it was.
///
/// # Errors
/// As `update`.
pub fn update_if<D: Document, T>(
    path: &Path,
    timeout: Duration,
    change: impl FnOnce(&mut D) -> Result<Option<T>>,
) -> Result<Option<T>> {
    let _lock = lock(path, timeout)?;
    remove_stale_temps(path);
    let mut doc = load::<D>(path)?;
    let Some(out) = change(&mut doc)? else {
        return Ok(None);
    };
    write_atomic(path, |w| doc.write(w))?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::revocations_file::Revocations;

    #[test]
    fn a_stale_read_ahead_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let timeout = Duration::from_secs(1);
        update(&path, timeout, |r: &mut Revocations| {
            r.users.insert("a".into(), 1);
            Ok(())
        })
        .unwrap();
        let ahead = read_ahead::<Revocations>(&path).expect("readable");
        // Another writer changes the file after it was read ahead.
        update(&path, timeout, |r: &mut Revocations| {
            r.users.insert("b".into(), 2);
            Ok(())
        })
        .unwrap();
        let seen = update_with(&path, timeout, Some(ahead), |r: &mut Revocations| {
            Ok(r.users.len())
        })
        .unwrap();
        assert_eq!(seen, 2, "the update saw the other writer's change");
        // A fresh read ahead is used as it is.
        let ahead = read_ahead::<Revocations>(&path).expect("readable");
        assert_eq!(ahead.doc().users.len(), 2);
        let seen = update_with(&path, timeout, Some(ahead), |r: &mut Revocations| {
            Ok(r.users.len())
        })
        .unwrap();
        assert_eq!(seen, 2);
    }
}
