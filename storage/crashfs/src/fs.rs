//! The FUSE request handlers over a shared [`State`].
//!
//! Opened files use the kernel's write-through cached mode (no `FOPEN_DIRECT_IO`, no
//! writeback cache): every `write(2)` reaches this process before it returns, and read-only
//! `MAP_SHARED` mappings (memmap2, RocksDB) work. `fsync` and `fsyncdir` are implemented,
//! never left to ENOSYS: the kernel would then treat every later sync as a success.

use std::ffi::{OsStr, OsString};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};

use crate::state::State;

const TTL: Duration = Duration::from_secs(1);

/// The disk shared by the mounted filesystem and the test.
pub(crate) struct Shared {
    pub state: State,
    /// Incremented by every power cut; a mount of an older epoch answers EIO to everything.
    pub epoch: u64,
    /// Bytes of file data allowed (None: unlimited).
    pub quota: Option<u64>,
    /// Successful `fsync` and `fsyncdir` calls (for tests of the test).
    pub syncs: u64,
}

/// One mount's view of the disk.
pub(crate) struct CrashFs {
    pub shared: Arc<Mutex<Shared>>,
    pub epoch: u64,
}

type Res<T> = Result<T, Errno>;

impl CrashFs {
    /// The state, or EIO once the power was cut under this mount.
    fn live(&self) -> Res<MutexGuard<'_, Shared>> {
        let g = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if g.epoch != self.epoch {
            return Err(Errno::EIO);
        }
        Ok(g)
    }
}

fn attr(s: &State, ino: u64) -> Res<FileAttr> {
    let n = s.nodes.get(&ino).ok_or(Errno::ENOENT)?;
    let size = if n.dir { 0 } else { n.data.len() as u64 };
    Ok(FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(4096) * 8,
        atime: n.mtime,
        mtime: n.mtime,
        ctime: n.mtime,
        crtime: n.mtime,
        kind: if n.dir {
            FileType::Directory
        } else {
            FileType::RegularFile
        },
        perm: n.perm,
        nlink: if n.dir { 2 } else { 1 },
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    })
}

fn errno(e: i32) -> Errno {
    Errno::from_i32(e)
}

fn entry(reply: ReplyEntry, r: Res<FileAttr>) {
    match r {
        Ok(a) => reply.entry(&TTL, &a, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn empty(reply: ReplyEmpty, r: Res<()>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

impl CrashFs {
    fn do_create(&self, parent: INodeNo, name: &OsStr, mode: u32, flags: i32) -> Res<FileAttr> {
        let mut g = self.live()?;
        let quota = g.quota;
        let s = &mut g.state;
        let ino = match s.child(parent.0, name) {
            Some(_) if flags & libc::O_EXCL != 0 => return Err(Errno::EEXIST),
            Some(ino) if flags & libc::O_TRUNC != 0 => {
                s.resize(ino, 0, quota).map_err(errno)?;
                ino
            }
            Some(ino) => ino,
            None => s.add(parent.0, name, false, mode).map_err(errno)?,
        };
        attr(s, ino)
    }

    fn do_write(&self, ino: INodeNo, offset: u64, data: &[u8]) -> Res<u32> {
        let mut g = self.live()?;
        let quota = g.quota;
        let s = &mut g.state;
        let end = offset as usize + data.len();
        let len = s.nodes.get(&ino.0).ok_or(Errno::ENOENT)?.data.len();
        if end > len {
            s.resize(ino.0, end, quota).map_err(errno)?;
        }
        let n = s.nodes.get_mut(&ino.0).ok_or(Errno::ENOENT)?;
        n.data[offset as usize..end].copy_from_slice(data);
        n.mtime = SystemTime::now();
        Ok(data.len() as u32)
    }

    fn do_remove(&self, parent: INodeNo, name: &OsStr, dir: bool) -> Res<()> {
        let mut g = self.live()?;
        let s = &mut g.state;
        let c = s.child(parent.0, name).ok_or(Errno::ENOENT)?;
        let n = &s.nodes[&c];
        match (dir, n.dir) {
            (false, true) => return Err(Errno::EISDIR),
            (true, false) => return Err(Errno::ENOTDIR),
            (true, true) if !n.entries.is_empty() => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        // Open handles keep reading an unlinked file; its space counts as freed.
        s.used = s.used.saturating_sub(n.data.len() as u64);
        if let Some(p) = s.nodes.get_mut(&parent.0) {
            p.entries.remove(name);
        }
        Ok(())
    }

    fn do_rename(
        &self,
        p: INodeNo,
        name: &OsStr,
        np: INodeNo,
        nn: &OsStr,
        f: RenameFlags,
    ) -> Res<()> {
        if f.intersects(RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_WHITEOUT) {
            return Err(Errno::EINVAL);
        }
        let mut g = self.live()?;
        let s = &mut g.state;
        let src = s.child(p.0, name).ok_or(Errno::ENOENT)?;
        if !s.nodes.get(&np.0).is_some_and(|n| n.dir) {
            return Err(Errno::ENOENT);
        }
        if let Some(dst) = s.child(np.0, nn) {
            if f.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            let d = &s.nodes[&dst];
            if d.dir && !d.entries.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
            if dst != src {
                s.used = s.used.saturating_sub(d.data.len() as u64);
            }
        }
        if let Some(n) = s.nodes.get_mut(&p.0) {
            n.entries.remove(name);
        }
        if let Some(n) = s.nodes.get_mut(&np.0) {
            n.entries.insert(nn.to_owned(), src);
        }
        Ok(())
    }

    fn do_sync(&self, ino: INodeNo, dir: bool) -> Res<()> {
        let mut g = self.live()?;
        g.syncs += 1;
        let n = g.state.nodes.get_mut(&ino.0).ok_or(Errno::ENOENT)?;
        if dir {
            n.durable_entries = n.entries.clone();
        } else {
            n.durable_data = n.data.clone();
        }
        Ok(())
    }

    fn listing(&self, ino: INodeNo) -> Res<Vec<(u64, FileType, OsString)>> {
        let g = self.live()?;
        let n = g.state.nodes.get(&ino.0).ok_or(Errno::ENOENT)?;
        let mut list = vec![
            (ino.0, FileType::Directory, OsString::from(".")),
            (ino.0, FileType::Directory, OsString::from("..")),
        ];
        for (name, &c) in &n.entries {
            let dir = g.state.nodes.get(&c).is_some_and(|n| n.dir);
            let kind = if dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            list.push((c, kind, name.clone()));
        }
        Ok(list)
    }
}

impl Filesystem for CrashFs {
    fn lookup(&self, _r: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let r = self.live().and_then(|g| {
            let ino = g.state.child(parent.0, name).ok_or(Errno::ENOENT)?;
            attr(&g.state, ino)
        });
        entry(reply, r)
    }

    fn getattr(&self, _r: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.live().and_then(|g| attr(&g.state, ino.0)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _r: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let r = self.live().and_then(|mut g| {
            let quota = g.quota;
            if let Some(sz) = size {
                g.state.resize(ino.0, sz as usize, quota).map_err(errno)?;
            }
            if let (Some(m), Some(n)) = (mode, g.state.nodes.get_mut(&ino.0)) {
                n.perm = (m & 0o7777) as u16;
            }
            attr(&g.state, ino.0)
        });
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        _r: &Request,
        p: INodeNo,
        name: &OsStr,
        mode: u32,
        _u: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(Errno::EPERM);
        }
        entry(reply, self.do_create(p, name, mode, libc::O_EXCL))
    }

    fn mkdir(&self, _r: &Request, p: INodeNo, name: &OsStr, mode: u32, _u: u32, reply: ReplyEntry) {
        let r = self.live().and_then(|mut g| {
            let ino = g.state.add(p.0, name, true, mode).map_err(errno)?;
            attr(&g.state, ino)
        });
        entry(reply, r)
    }

    fn create(
        &self,
        _r: &Request,
        p: INodeNo,
        name: &OsStr,
        mode: u32,
        _u: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        match self.do_create(p, name, mode, flags) {
            Ok(a) => reply.created(&TTL, &a, Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _r: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.live().and_then(|g| attr(&g.state, ino.0)) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _r: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lo: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let g = match self.live() {
            Ok(g) => g,
            Err(e) => return reply.error(e),
        };
        let Some(n) = g.state.nodes.get(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let start = (offset as usize).min(n.data.len());
        let end = (start + size as usize).min(n.data.len());
        reply.data(&n.data[start..end]);
    }

    fn write(
        &self,
        _r: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _wf: WriteFlags,
        _flags: OpenFlags,
        _lo: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.do_write(ino, offset, data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _r: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lo: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok() // close() is not a durability point
    }

    fn fsync(
        &self,
        _r: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        empty(reply, self.do_sync(ino, false))
    }

    fn readdir(
        &self,
        _r: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let list = match self.listing(ino) {
            Ok(l) => l,
            Err(e) => return reply.error(e),
        };
        for (i, (c, kind, name)) in list.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(c), (i + 1) as u64, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _r: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        empty(reply, self.do_sync(ino, true))
    }

    fn unlink(&self, _r: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.do_remove(parent, name, false))
    }

    fn rmdir(&self, _r: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.do_remove(parent, name, true))
    }

    fn rename(
        &self,
        _r: &Request,
        p: INodeNo,
        name: &OsStr,
        np: INodeNo,
        nn: &OsStr,
        f: RenameFlags,
        reply: ReplyEmpty,
    ) {
        empty(reply, self.do_rename(p, name, np, nn, f))
    }

    fn statfs(&self, _r: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let (total, free) = match self.live() {
            Ok(g) => {
                let q = g.quota.unwrap_or(1 << 40);
                (q / 4096, q.saturating_sub(g.state.used) / 4096)
            }
            Err(e) => return reply.error(e),
        };
        reply.statfs(total, free, free, 1 << 20, 1 << 20, 4096, 255, 4096);
    }

    fn access(&self, _r: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fallocate(
        &self,
        _r: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        off: u64,
        len: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
            return reply.error(Errno::EOPNOTSUPP);
        }
        let r = self.live().and_then(|mut g| {
            let quota = g.quota;
            let cur = g.state.nodes.get(&ino.0).ok_or(Errno::ENOENT)?.data.len();
            let end = (off + len) as usize;
            if mode == 0 && end > cur {
                g.state.resize(ino.0, end, quota).map_err(errno)?;
            }
            Ok(())
        });
        empty(reply, r)
    }
}
