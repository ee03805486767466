//! The disk's contents: what readers see now, and what survives a power cut.
//!
//! The durability model is POSIX-strict, as RocksDB and nestdb are written for (and as
//! LazyFS and ALICE test): a file's data and size become durable on `fsync`/`fdatasync`;
//! a directory entry (create, rename, unlink) becomes durable only on `fsync` of that
//! directory. `flush`/`close` make nothing durable.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::time::SystemTime;

use rand::Rng;

/// One inode.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub dir: bool,
    pub perm: u16,
    pub mtime: SystemTime,
    /// What readers see now.
    pub data: Vec<u8>,
    /// As of the last `fsync`/`fdatasync`.
    pub durable_data: Vec<u8>,
    /// Directory entries readers see now.
    pub entries: BTreeMap<OsString, u64>,
    /// As of the last `fsync` of the directory.
    pub durable_entries: BTreeMap<OsString, u64>,
}

impl Node {
    pub fn new(dir: bool, perm: u16) -> Node {
        Node {
            dir,
            perm,
            mtime: SystemTime::now(),
            data: Vec::new(),
            durable_data: Vec::new(),
            entries: BTreeMap::new(),
            durable_entries: BTreeMap::new(),
        }
    }
}

/// All inodes (never reused within one state) and the space accounting.
#[derive(Clone, Debug)]
pub(crate) struct State {
    pub nodes: HashMap<u64, Node>,
    next_ino: u64,
    /// Bytes of file data readers see now.
    pub used: u64,
}

/// What a power cut threw away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Files whose content differed from their durable content.
    pub files_reverted: usize,
    /// Unsynced bytes dropped.
    pub bytes_dropped: u64,
    /// Unsynced appends of which a prefix was kept (torn writes).
    pub torn: usize,
}

impl State {
    pub fn new() -> State {
        let mut nodes = HashMap::new();
        nodes.insert(1, Node::new(true, 0o755));
        State {
            nodes,
            next_ino: 2,
            used: 0,
        }
    }

    /// What the machine finds after power loss: durable entries reachable from the root and
    /// durable data. With `tear`, an unsynced append may survive in part (a prefix of it).
    pub fn power_cut(&self, mut tear: Option<&mut dyn rand::RngCore>) -> (State, CutReport) {
        let mut nodes = HashMap::new();
        let mut report = CutReport::default();
        let mut stack = vec![1u64];
        while let Some(ino) = stack.pop() {
            if nodes.contains_key(&ino) {
                continue;
            }
            let Some(n) = self.nodes.get(&ino) else {
                continue;
            };
            let mut n = n.clone();
            if n.data != n.durable_data {
                report.files_reverted += 1;
                report.bytes_dropped += n.data.len().abs_diff(n.durable_data.len()) as u64;
            }
            let keep = match tear.as_deref_mut() {
                Some(rng) => torn_prefix(&n, rng),
                None => 0,
            };
            if keep > 0 {
                report.torn += 1;
            }
            let mut data = n.durable_data.clone();
            data.extend_from_slice(&n.data[n.durable_data.len()..n.durable_data.len() + keep]);
            n.data = data;
            n.entries = n.durable_entries.clone();
            stack.extend(n.entries.values().copied());
            nodes.insert(ino, n);
        }
        let used = nodes.values().map(|n| n.data.len() as u64).sum();
        let state = State {
            nodes,
            next_ino: self.next_ino,
            used,
        };
        (state, report)
    }

    pub fn child(&self, parent: u64, name: &OsStr) -> Option<u64> {
        self.nodes.get(&parent)?.entries.get(name).copied()
    }

    /// Adds a new inode under `parent` (the entry is volatile until the parent is synced).
    pub fn add(&mut self, parent: u64, name: &OsStr, dir: bool, mode: u32) -> Result<u64, i32> {
        let p = self.nodes.get(&parent).ok_or(libc::ENOENT)?;
        if !p.dir {
            return Err(libc::ENOTDIR);
        }
        if p.entries.contains_key(name) {
            return Err(libc::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes
            .insert(ino, Node::new(dir, (mode & 0o7777) as u16));
        if let Some(p) = self.nodes.get_mut(&parent) {
            p.entries.insert(name.to_owned(), ino);
        }
        Ok(ino)
    }

    /// Resizes `ino`'s data to `len` if the quota allows it.
    pub fn resize(&mut self, ino: u64, len: usize, quota: Option<u64>) -> Result<(), i32> {
        let n = self.nodes.get_mut(&ino).ok_or(libc::ENOENT)?;
        let old = n.data.len();
        if len > old {
            if let Some(q) = quota {
                if self.used + (len - old) as u64 > q {
                    return Err(libc::ENOSPC);
                }
            }
        }
        n.data.resize(len, 0);
        n.mtime = SystemTime::now();
        self.used = self.used + len as u64 - old as u64;
        Ok(())
    }
}

/// How many bytes of an unsynced append survive a torn write: none if the file was
/// rewritten rather than appended to since its last sync.
fn torn_prefix(n: &Node, rng: &mut dyn rand::RngCore) -> usize {
    let d = n.durable_data.len();
    if n.dir || n.data.len() <= d || n.data[..d] != n.durable_data[..] || !rng.random_bool(0.5) {
        return 0;
    }
    rng.random_range(0..=n.data.len() - d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_synced_data_and_entries_survive() {
        let mut s = State::new();
        let a = s.add(1, OsStr::new("a"), false, 0o644).unwrap();
        s.nodes.get_mut(&a).unwrap().data = b"durable".to_vec();
        s.nodes.get_mut(&a).unwrap().durable_data = b"durable".to_vec();
        s.nodes.get_mut(&1).unwrap().durable_entries = s.nodes[&1].entries.clone();
        s.nodes
            .get_mut(&a)
            .unwrap()
            .data
            .extend_from_slice(b"+volatile");
        let _b = s.add(1, OsStr::new("b"), false, 0o644).unwrap();
        let (cut, r) = s.power_cut(None);
        assert_eq!(cut.nodes[&1].entries.len(), 1, "b's entry was never synced");
        assert_eq!(cut.nodes[&a].data, b"durable");
        assert_eq!(r.files_reverted, 1);
        assert_eq!(cut.used, 7);
    }

    #[test]
    fn a_torn_append_keeps_a_prefix_of_the_tail() {
        let mut s = State::new();
        let a = s.add(1, OsStr::new("a"), false, 0o644).unwrap();
        s.nodes.get_mut(&1).unwrap().durable_entries = s.nodes[&1].entries.clone();
        let n = s.nodes.get_mut(&a).unwrap();
        n.durable_data = b"abc".to_vec();
        n.data = b"abcdefgh".to_vec();
        let mut rng = rand::rng();
        for _ in 0..50 {
            let (cut, _) = s.power_cut(Some(&mut rng));
            let d = &cut.nodes[&a].data;
            assert!(d.starts_with(b"abc") && b"abcdefgh".starts_with(d), "{d:?}");
        }
    }

    #[test]
    fn quota_refuses_growth_past_the_limit() {
        let mut s = State::new();
        let a = s.add(1, OsStr::new("a"), false, 0o644).unwrap();
        assert_eq!(s.resize(a, 10, Some(16)), Ok(()));
        assert_eq!(s.resize(a, 20, Some(16)), Err(libc::ENOSPC));
        assert_eq!(s.resize(a, 4, Some(16)), Ok(()));
        assert_eq!(s.used, 4);
    }
}
