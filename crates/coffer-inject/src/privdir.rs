//! A private directory on a memory filesystem, and writing a plan's files into a directory.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::sys::statfs::{FsType, TMPFS_MAGIC, statfs};

/// ramfs (not exported by nix).
const RAMFS_MAGIC: FsType = FsType(0x858458f6);

use crate::InjectError;
use crate::plan::Plan;

/// Whether `path` is on tmpfs or ramfs (never written to a disk).
pub fn is_memory_fs(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == TMPFS_MAGIC || s.filesystem_type() == RAMFS_MAGIC)
}

/// The first writable memory filesystem among `$XDG_RUNTIME_DIR`, `/dev/shm` and `/run/user/<uid>`.
pub fn memory_parent() -> Option<PathBuf> {
    let uid = nix::unistd::getuid();
    let candidates = [
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        Some(PathBuf::from("/dev/shm")),
        Some(PathBuf::from(format!("/run/user/{uid}"))),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_dir() && is_memory_fs(p) && nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok())
}

/// A directory only this user can enter (0700), removed with everything in it on drop.
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
}

// === impl PrivateDir ===

impl PrivateDir {
    /// Creates `coffer-<random>` under `parent`, or under a memory filesystem when `None`.
    /// Refuses to pick a disk-backed location by itself.
    pub fn create(parent: Option<&Path>) -> Result<Self, InjectError> {
        let parent = match parent {
            Some(p) => p.to_path_buf(),
            None => memory_parent().ok_or_else(|| {
                InjectError::Layout(
                    "no memory filesystem found for secret files ($XDG_RUNTIME_DIR, /dev/shm); pass --secrets-parent DIR \
                     to choose a location explicitly"
                        .into(),
                )
            })?,
        };
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        let path = parent.join(format!("coffer-{}", hex::encode(b)));
        DirBuilder::new().mode(0o700).create(&path).map_err(|e| InjectError::io(&path, e))?;
        Ok(Self { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Writes every file of `plan` under `root`: directories 0700, files 0400, bytes exact.
/// On failure, removes what it wrote.
pub fn write_files(root: &Path, plan: &Plan) -> Result<(), InjectError> {
    let mut written: Vec<PathBuf> = Vec::new();
    let result = (|| {
        for (rel, &i) in &plan.files {
            let path = root.join(rel);
            if let Some(dir) = path.parent()
                && !dir.exists()
            {
                DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| InjectError::io(dir, e))?;
            }
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o400)
                .open(&path)
                .map_err(|e| InjectError::io(&path, e))?;
            written.push(path.clone());
            f.write_all(plan.values[i].expose_bytes()).map_err(|e| InjectError::io(&path, e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        for p in written {
            let _ = std::fs::remove_file(p);
        }
    }
    result
}
