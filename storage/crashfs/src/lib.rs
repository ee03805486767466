//! A test-only disk that can lose power.
//!
//! [`Disk`] holds a filesystem in memory and mounts it with FUSE ([`Disk::mount`]). Programs
//! on the mount see an ordinary POSIX filesystem, but the disk remembers what was made durable:
//! file contents as of their last `fsync`, directory entries as of their directory's last
//! `fsync`. [`Disk::power_cut`] throws the rest away (optionally keeping a torn prefix of
//! unsynced appends), and makes the old mount answer EIO to everything from that instant, so
//! nothing the program does afterwards can reach the disk. Unmount, mount again and you see what
//! a machine would find after losing power. [`Disk::set_quota`] makes writes fail with ENOSPC.
//!
//! Mounting needs `/dev/fuse` and root (fuser mounts with `mount(2)` directly; no libfuse or
//! `fusermount` is involved).
//!
//! ```no_run
//! let disk = nestdb_crashfs::Disk::new();
//! let mnt = disk.mount(std::path::Path::new("/tmp/m")).unwrap();
//! // ... run the program under test on /tmp/m, then at a random moment:
//! let report = disk.power_cut(None);
//! // kill the program, then:
//! mnt.unmount().unwrap();
//! let again = disk.mount(std::path::Path::new("/tmp/m")).unwrap();
//! ```

mod fs;
mod state;

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};

use fuser::{BackgroundSession, MountOption};

pub use state::CutReport;

/// An in-memory disk that survives mounts and loses unsynced data on [`Disk::power_cut`].
#[derive(Clone)]
pub struct Disk {
    shared: Arc<Mutex<fs::Shared>>,
}

impl Default for Disk {
    fn default() -> Self {
        Disk::new()
    }
}

impl Disk {
    /// An empty disk without a quota.
    pub fn new() -> Disk {
        let shared = fs::Shared {
            state: state::State::new(),
            epoch: 0,
            quota: None,
            syncs: 0,
        };
        Disk {
            shared: Arc::new(Mutex::new(shared)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, fs::Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Mounts the disk at `at` (an existing empty directory). Mounting again after a power cut
    /// shows the surviving state.
    pub fn mount(&self, at: &Path) -> io::Result<Mount> {
        let epoch = self.lock().epoch;
        let fs = fs::CrashFs {
            shared: self.shared.clone(),
            epoch,
        };
        let mut cfg = fuser::Config::default();
        cfg.mount_options = vec![MountOption::FSName("crashfs".into())];
        let session = fuser::spawn_mount(fs, at, &cfg)?;
        Ok(Mount {
            session: Some(session),
            path: at.to_path_buf(),
        })
    }

    /// Cuts the power now: everything not made durable is gone (with `tear`, a random prefix of
    /// an unsynced append may survive), and the current mount fails every request with EIO.
    pub fn power_cut(&self, tear: Option<&mut dyn rand::RngCore>) -> CutReport {
        let mut g = self.lock();
        let (state, report) = g.state.power_cut(tear);
        g.state = state;
        g.epoch += 1;
        report
    }

    /// Limits file data to `bytes` (None: no limit); writes past it fail with ENOSPC.
    pub fn set_quota(&self, bytes: Option<u64>) {
        self.lock().quota = bytes;
    }

    /// Bytes of file data stored now.
    pub fn used(&self) -> u64 {
        self.lock().state.used
    }

    /// Successful `fsync`/`fsyncdir` calls so far.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }
}

/// A mounted [`Disk`]; unmounts on drop (lazily if something still holds it open).
pub struct Mount {
    session: Option<BackgroundSession>,
    path: PathBuf,
}

impl Mount {
    /// Where the disk is mounted.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Unmounts and waits for the filesystem thread. If something still has a file open on
    /// the mount, detaches it lazily instead (the kernel finishes when the last user goes).
    pub fn unmount(mut self) -> io::Result<()> {
        self.close()
    }

    fn close(&mut self) -> io::Result<()> {
        let Some(s) = self.session.take() else {
            return Ok(());
        };
        // fuser 0.18's session drop would umount the *path* again, possibly hitting a newer
        // mount there: join it explicitly instead.
        match s.umount_and_join() {
            Ok(()) => Ok(()),
            // The session can end with an error after the mount is already gone (the kernel
            // aborted the connection, ECONNABORTED, seen under load); then there is nothing
            // left to unmount.
            Err(_) if !is_mounted(&self.path) => Ok(()),
            Err(e) => lazy_unmount(&self.path).map_err(|_| e),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Whether something is mounted at `path` (by `/proc/self/mountinfo`; true when unreadable, so
/// callers still try to unmount).
fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return true;
    };
    let want = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| Path::new(&m.replace("\\040", " ")) == want)
}

/// Detaches whatever is mounted at `path` (for leftovers of a crashed test run).
pub fn lazy_unmount(path: &Path) -> io::Result<()> {
    let st = Command::new("umount").arg("-l").arg(path).status()?;
    if st.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "umount -l {} failed: {st}",
            path.display()
        )))
    }
}
