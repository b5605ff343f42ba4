//! Files that survive crashes and concurrent writers: the users file and the token
//! store are both kept this way.
//!
//! Every change is a locked read-modify-write: an exclusive lock on `FILE.lock` is
//! taken, the file is read afresh, changed, written to a temporary file in the same
//! directory (mode 0600), fsynced, renamed over the original, and the directory
//! fsynced. A crash at any instant leaves either the old or the new file, and two
//! writers never lose each other's changes. A path that is a symbolic link is written
//! through: the link stays, and its target is replaced in the target's directory. The
//! new version keeps the old one's mode and, where the writer may set them, its owner
//! and group; a new file is created with mode 0600. Readers never lock: they see one whole
//! version or the next, and tell versions apart by inode, size and modification time.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// The longest file read, in bytes.
pub(crate) const MAX_FILE_LEN: u64 = 64 * 1024 * 1024;

/// What identifies one version of the file: a rename gives a new inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    ino: u64,
    #[cfg(unix)]
    dev: u64,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            ino: meta.ino(),
            #[cfg(unix)]
            dev: meta.dev(),
        }
    }
}

/// The version of the file last read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Never,
    Missing,
    File(Stamp),
}

/// Remembers which version of a file was read last.
#[derive(Debug)]
pub(crate) struct Tracker(Mutex<Seen>);

/// What [`Tracker::read_if_changed`] found.
pub(crate) enum Change {
    /// The same version as last time.
    Unchanged,
    /// The file is gone.
    Missing,
    /// A new version, whole.
    Contents(String),
}

impl Tracker {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(Seen::Never))
    }

    /// Reads `path` if it is not the version read last time. A version is marked read
    /// before it is parsed, so a malformed one is reported once, not at every poll.
    pub(crate) fn read_if_changed(&self, path: &Path) -> Result<Change, Error> {
        let mut seen = crate::sync::lock(&self.0);
        match File::open(path) {
            Ok(mut file) => {
                let meta = file.metadata().map_err(|e| Error::io(path.display(), e))?;
                let stamp = Seen::File(Stamp::of(&meta));
                if *seen == stamp {
                    return Ok(Change::Unchanged);
                }
                *seen = stamp;
                read_open(&mut file, &meta, path).map(Change::Contents)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if *seen == Seen::Missing {
                    return Ok(Change::Unchanged);
                }
                *seen = Seen::Missing;
                Ok(Change::Missing)
            }
            Err(e) => Err(Error::io(format!("cannot open {}", path.display()), e)),
        }
    }
}

/// Reads `path` whole, without locking; `None` when it does not exist.
pub(crate) fn read(path: &Path) -> Result<Option<String>, Error> {
    match File::open(path) {
        Ok(mut file) => {
            let meta = file.metadata().map_err(|e| Error::io(path.display(), e))?;
            read_open(&mut file, &meta, path).map(Some)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("cannot open {}", path.display()), e)),
    }
}

fn read_open(file: &mut File, meta: &fs::Metadata, path: &Path) -> Result<String, Error> {
    if meta.len() > MAX_FILE_LEN {
        return Err(Error::new(
            ErrorKind::CorruptStore,
            format!("{}: larger than {MAX_FILE_LEN} bytes", path.display()),
        ));
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    Ok(text)
}

/// A locked read-modify-write of `path`: `change` gets the current contents (`None` if
/// the file does not exist) and returns the new contents and a result. Nothing is
/// written when `change` fails. Blocking.
pub(crate) fn update<T>(
    path: &Path,
    change: impl FnOnce(Option<String>) -> Result<(Vec<u8>, T), Error>,
) -> Result<T, Error> {
    let path = &resolve_links(path)?;
    let _lock = lock(path)?;
    remove_stale_temporaries(path);
    let (contents, out) = change(read(path)?)?;
    write_atomic(path, &contents)?;
    Ok(out)
}

/// The file a chain of symbolic links ends at (the path itself when it is none), so that
/// a rename replaces the target and leaves the link in place.
fn resolve_links(path: &Path) -> Result<PathBuf, Error> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&path).map_err(|e| {
                    Error::io(format!("cannot read the link {}", path.display()), e)
                })?;
                path = parent_dir(&path).join(target);
            }
            _ => return Ok(path),
        }
    }
    Err(Error::new(
        ErrorKind::Io,
        format!("{}: too many levels of symbolic links", path.display()),
    ))
}

/// Gives the new version `file` the old version's mode, owner and group. The owner and
/// group are kept where the writer may set them (root may; a user may keep a group of
/// theirs) and silently left as the writer's otherwise.
fn keep_ownership(file: &File, old: &fs::Metadata) -> std::io::Result<()> {
    file.set_permissions(old.permissions())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid()));
    }
    Ok(())
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// Takes the exclusive lock that serializes writers; released on drop.
fn lock(path: &Path) -> Result<File, Error> {
    let lock_path = sibling(path, ".lock");
    let file = private_file()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| {
            Error::io(
                format!("cannot open the lock file {}", lock_path.display()),
                e,
            )
        })?;
    file.lock()
        .map_err(|e| Error::io(format!("cannot lock {}", lock_path.display()), e))?;
    Ok(file)
}

/// Temporary files are written only under the lock, so any found by the lock holder
/// were left by a writer that died (`kill -9`, power cut) before its rename.
fn remove_stale_temporaries(path: &Path) {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let prefix = format!("{name}.tmp-");
    let Ok(entries) = fs::read_dir(parent_dir(path)) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Temporary file, fsync, rename, fsync of the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = sibling(
        path,
        &format!(".tmp-{}-{}", std::process::id(), crate::random::id()),
    );
    let result = (|| {
        let mut f = private_file()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(format!("cannot create {}", tmp.display()), e))?;
        if let Ok(old) = fs::metadata(path) {
            keep_ownership(&f, &old)
                .map_err(|e| Error::io(format!("cannot set the mode of {}", tmp.display()), e))?;
        }
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
        fs::rename(&tmp, path)
            .map_err(|e| Error::io(format!("cannot replace {}", path.display()), e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    let dir = parent_dir(path);
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("cannot sync the directory {}", dir.display()), e))
}

/// Calls `reload` on `target` every `every` (on the blocking pool), for as long as the
/// returned task runs and `target` lives; `what` names the file in the logs. A failed
/// reload keeps the previous contents in force.
pub(crate) fn watch<T: Send + Sync + 'static>(
    target: &Arc<T>,
    every: Duration,
    what: &'static str,
    reload: fn(&T) -> Result<bool, Error>,
) -> tokio::task::JoinHandle<()> {
    let target = Arc::downgrade(target);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(target) = target.upgrade() else {
                break;
            };
            match tokio::task::spawn_blocking(move || reload(&target)).await {
                Ok(Ok(true)) => tracing::info!("{what} reloaded"),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "{what} not reloaded; keeping the previous contents")
                }
                Err(e) => tracing::error!(error = %e, "{what} reload task failed"),
            }
        }
    })
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn write(path: &Path, text: &str) {
        update(path, |_| Ok((text.as_bytes().to_vec(), ()))).unwrap();
    }

    #[test]
    fn a_symlinked_file_is_written_through_its_link() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("real");
        fs::create_dir(&real_dir).unwrap();
        let target = real_dir.join("users.json");
        fs::write(&target, "old").unwrap();
        let link = dir.path().join("users.json");
        std::os::unix::fs::symlink("real/users.json", &link).unwrap();

        write(&link, "new");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(read(&link).unwrap().as_deref(), Some("new"));
    }

    #[test]
    fn mode_and_owner_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        write(&path, "first");
        assert_eq!(
            fs::metadata(&path).unwrap().mode() & 0o777,
            0o600,
            "new files are private"
        );

        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let before = fs::metadata(&path).unwrap();
        write(&path, "second");
        let after = fs::metadata(&path).unwrap();
        assert_ne!(
            before.ino(),
            after.ino(),
            "replaced, not rewritten in place"
        );
        assert_eq!(after.mode() & 0o777, 0o640);
        assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));

        // As root (CI), an owner other than the writer is kept too.
        if after.uid() == 0 {
            std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
            write(&path, "third");
            let after = fs::metadata(&path).unwrap();
            assert_eq!((after.uid(), after.gid()), (65534, 65534));
        }
    }
}
