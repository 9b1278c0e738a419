//! [`PowerLossFs`]: an in-memory file system that knows what a power loss would keep.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::fs::{DirEntry, Fs, FsFile, FsLock, MappedBytes};

/// An inode number; the root directory is 0.
type Ino = u64;
const ROOT: Ino = 0;

#[derive(Debug)]
enum Node {
    File {
        live: Vec<u8>,
        durable: Vec<u8>,
    },
    Dir {
        live: BTreeMap<String, Ino>,
        durable: BTreeMap<String, Ino>,
    },
}

#[derive(Debug, Default)]
struct Counters {
    file_syncs: u64,
    dir_syncs: u64,
    truncates: u64,
}

impl Counters {
    fn total(&self) -> u64 {
        self.file_syncs + self.dir_syncs + self.truncates
    }
}

/// What made something durable.
#[derive(Clone, Copy)]
enum SyncKind {
    File,
    Dir,
    Truncate,
}

#[derive(Debug)]
struct Tree {
    /// Every inode ever made. Unlinked ones stay (open handles may still use them, and
    /// an unsynced removal can come back after a crash); tests are small.
    nodes: HashMap<Ino, Node>,
    next_ino: Ino,
    counters: Counters,
    /// Crash once `counters.total()` reaches this.
    crash_at: Option<u64>,
    crashed: bool,
    /// Paths locked through [`Fs::lock`].
    locks: HashSet<PathBuf>,
    /// Changes to directory entries not yet made durable by a sync of their directory,
    /// in the order they were made: replaying any subset of them, in order, on the
    /// durable tables gives a state a power loss may leave.
    pending: Vec<(Ino, DirOp)>,
}

/// One change to a directory's entries.
#[derive(Clone, Debug)]
enum DirOp {
    Add(String, Ino),
    Remove(String),
    /// Within one directory; atomic, as `rename(2)` is on the file systems we target.
    Rename(String, String, Ino),
}

/// An unsynced change to a directory's entries, for [`CrashSurvival::entry_change`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryChange<'a> {
    /// Entry `name` was created (a file, a directory, or the target half of a rename
    /// from another directory).
    Created {
        /// The entry's name.
        name: &'a str,
    },
    /// Entry `name` was removed (or moved to another directory).
    Removed {
        /// The entry's name.
        name: &'a str,
    },
    /// Entry `from` was renamed to `to` in the same directory (replacing `to`).
    Renamed {
        /// The old name.
        from: &'a str,
        /// The new name.
        to: &'a str,
    },
}

/// What survives of what was never synced, for [`PowerLossFs::crash_image_with`]. Real
/// disks may write back any part of the page cache before the power goes: some
/// unsynced appended bytes (a prefix: writes reach the disk in order within a file,
/// but torn at any byte), and some unsynced directory changes. The defaults keep
/// nothing, which is [`PowerLossFs::crash_image`].
pub trait CrashSurvival {
    /// How many of the `unsynced` bytes appended to the file that ends up at `path`
    /// survive (clamped to `unsynced`).
    fn file_tail(&mut self, path: &Path, unsynced: u64) -> u64 {
        let _ = (path, unsynced);
        0
    }

    /// Whether `change`, not yet synced, survives. Asked once per change, in the order
    /// the changes were made; a rename between two directories is a removal and a
    /// creation, asked separately.
    fn entry_change(&mut self, change: EntryChange<'_>) -> bool {
        let _ = change;
        false
    }
}

/// Only what was synced survives.
struct SyncedOnly;

impl CrashSurvival for SyncedOnly {}

impl Tree {
    fn new() -> Tree {
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            Node::Dir {
                live: BTreeMap::new(),
                durable: BTreeMap::new(),
            },
        );
        Tree {
            nodes,
            next_ino: ROOT + 1,
            counters: Counters::default(),
            crash_at: None,
            crashed: false,
            locks: HashSet::new(),
            pending: Vec::new(),
        }
    }

    fn add_entry(&mut self, dir: Ino, name: String, ino: Ino) -> io::Result<()> {
        self.live_entries_mut(dir)?.insert(name.clone(), ino);
        self.pending.push((dir, DirOp::Add(name, ino)));
        Ok(())
    }

    fn remove_entry(&mut self, dir: Ino, name: String) -> io::Result<()> {
        self.live_entries_mut(dir)?.remove(&name);
        self.pending.push((dir, DirOp::Remove(name)));
        Ok(())
    }

    fn alive(&self) -> io::Result<()> {
        if self.crashed {
            Err(io::Error::other(
                "simulated power loss: the machine is off (PowerLossFs)",
            ))
        } else {
            Ok(())
        }
    }

    /// Called before every sync: the power goes here, before the sync does anything, if
    /// the armed number of syncs has completed.
    fn before_sync(&mut self) -> io::Result<()> {
        self.alive()?;
        if self.crash_at.is_some_and(|k| self.counters.total() >= k) {
            self.crashed = true;
            self.alive()?;
        }
        Ok(())
    }

    /// Counts one completed sync.
    fn synced(&mut self, kind: SyncKind) {
        let c = &mut self.counters;
        *match kind {
            SyncKind::File => &mut c.file_syncs,
            SyncKind::Dir => &mut c.dir_syncs,
            SyncKind::Truncate => &mut c.truncates,
        } += 1;
    }

    fn alloc(&mut self, node: Node) -> Ino {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, node);
        ino
    }

    fn node(&self, ino: Ino) -> io::Result<&Node> {
        self.nodes.get(&ino).ok_or_else(|| lost_inode(ino))
    }

    fn node_mut(&mut self, ino: Ino) -> io::Result<&mut Node> {
        self.nodes.get_mut(&ino).ok_or_else(|| lost_inode(ino))
    }

    fn live_entries(&self, ino: Ino) -> io::Result<&BTreeMap<String, Ino>> {
        match self.node(ino)? {
            Node::Dir { live, .. } => Ok(live),
            Node::File { .. } => Err(not_a_dir()),
        }
    }

    fn live_entries_mut(&mut self, ino: Ino) -> io::Result<&mut BTreeMap<String, Ino>> {
        match self.node_mut(ino)? {
            Node::Dir { live, .. } => Ok(live),
            Node::File { .. } => Err(not_a_dir()),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> io::Result<(&mut Vec<u8>, &mut Vec<u8>)> {
        match self.node_mut(ino)? {
            Node::File { live, durable } => Ok((live, durable)),
            Node::Dir { .. } => Err(is_a_dir()),
        }
    }

    fn file_live(&self, ino: Ino) -> io::Result<&Vec<u8>> {
        match self.node(ino)? {
            Node::File { live, .. } => Ok(live),
            Node::Dir { .. } => Err(is_a_dir()),
        }
    }

    /// The inode at `path` (following live entries).
    fn lookup(&self, path: &Path) -> io::Result<Ino> {
        let mut ino = ROOT;
        for name in components(path)? {
            ino = *self
                .live_entries(ino)?
                .get(&name)
                .ok_or_else(|| not_found(path))?;
        }
        Ok(ino)
    }

    /// The directory holding `path` and the entry's name.
    fn parent_of(&self, path: &Path) -> io::Result<(Ino, String)> {
        let mut names = components(path)?;
        let name = names
            .pop()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the root has no parent"))?;
        let mut ino = ROOT;
        for n in names {
            ino = *self
                .live_entries(ino)?
                .get(&n)
                .ok_or_else(|| not_found(path))?;
        }
        self.live_entries(ino)?;
        Ok((ino, name))
    }

    fn is_dir(&self, ino: Ino) -> io::Result<bool> {
        Ok(matches!(self.node(ino)?, Node::Dir { .. }))
    }

    /// True if `ino` is `ancestor` or lies below it (following live entries).
    fn is_within(&self, ino: Ino, ancestor: Ino) -> io::Result<bool> {
        if ino == ancestor {
            return Ok(true);
        }
        if let Node::Dir { live, .. } = self.node(ancestor)? {
            for &child in live.values() {
                if self.is_dir(child)? && self.is_within(ino, child)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

fn lost_inode(ino: Ino) -> io::Error {
    io::Error::other(format!("PowerLossFs: inode {ino} is missing"))
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

fn not_a_dir() -> io::Error {
    io::Error::new(io::ErrorKind::NotADirectory, "not a directory")
}

fn is_a_dir() -> io::Error {
    io::Error::new(io::ErrorKind::IsADirectory, "is a directory")
}

/// The names along `path`, from the root; relative paths start at the root too.
fn components(path: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "PowerLossFs does not resolve `..`",
                ))
            }
            Component::Normal(n) => out.push(
                n.to_str()
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "non-UTF-8 file name")
                    })?
                    .to_owned(),
            ),
        }
    }
    Ok(out)
}

/// An in-memory file system that knows what a power loss would keep.
///
/// Every file has a *live* image (what reads see) and a *durable* image (what survives a
/// power loss); so does every directory's table of entries. The rules are the POSIX
/// minimum that a careful program can rely on (ext4 and XFS keep more, but an engine that
/// is correct only because of that is not portable):
///
/// - a file's bytes become durable at [`FsFile::sync_data`] of any handle to it;
/// - a created, renamed or removed directory entry becomes durable at [`Fs::sync_dir`] of
///   the directory holding it (a rename between two directories needs both synced);
/// - [`Fs::truncate`] is durable when it returns (the trait promises it; [`RealFs`]
///   syncs the whole file), so it counts as a sync here;
/// - nothing else is durable: a file whose entry was never synced vanishes with its
///   contents, even if the contents were synced.
///
/// A test arms [`PowerLossFs::crash_after_syncs`]: once that many syncs (file syncs,
/// directory syncs and truncates) have completed, the next sync never happens: the
/// machine is gone and every operation from then on fails. [`PowerLossFs::crash_image`]
/// then hands out what the disk holds as a fresh file system for the test to reopen.
/// Real disks may also write back any part of
/// the page cache before the power goes, so [`PowerLossFs::crash_image_with`] lets a
/// [`CrashSurvival`] choose what else survives: a prefix of each file's unsynced
/// appended bytes (a torn write), and any subset of the unsynced directory changes,
/// replayed in order (a rename within one directory is atomic, as `rename(2)` is on the
/// file systems we target; one between two directories is a removal and a creation).
///
/// Modelled on redb's `CrashBackend` (`tests/crash_consistency.rs`), with directory
/// entries added: a log-structured engine commits by rename, not by overwriting pages.
///
/// Cloning shares the state, so a test keeps one clone and gives the engine another.
///
/// [`RealFs`]: crate::fs::RealFs
///
/// ```
/// use std::path::Path;
/// use tsdb_core::fs::{Fs, testing::PowerLossFs};
///
/// let fs = PowerLossFs::new();
/// fs.create_dir_all(Path::new("/db"))?;
/// fs.sync_dir(Path::new("/"))?;
/// let f = fs.create_new(Path::new("/db/log"))?;
/// f.write_all(b"synced")?;
/// f.sync_data()?;
/// f.write_all(b" and not")?;
///
/// // the file's directory entry was never synced: a power loss now loses the file
/// assert!(fs.crash_image().read(Path::new("/db/log")).is_err());
/// fs.sync_dir(Path::new("/db"))?;
/// assert_eq!(fs.crash_image().read(Path::new("/db/log"))?, b"synced");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct PowerLossFs {
    tree: Arc<Mutex<Tree>>,
}

impl fmt::Debug for PowerLossFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.lock_tree();
        f.debug_struct("PowerLossFs")
            .field("inodes", &t.nodes.len())
            .field("syncs", &t.counters.total())
            .field("crash_at", &t.crash_at)
            .field("crashed", &t.crashed)
            .finish()
    }
}

impl Default for PowerLossFs {
    fn default() -> Self {
        PowerLossFs::new()
    }
}

impl PowerLossFs {
    /// An empty file system: only the root directory, durable.
    pub fn new() -> PowerLossFs {
        PowerLossFs {
            tree: Arc::new(Mutex::new(Tree::new())),
        }
    }

    fn lock_tree(&self) -> MutexGuard<'_, Tree> {
        // A panicking test thread must not hide the state from the others.
        self.tree.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Arms the power loss after `k` syncs (see [`PowerLossFs::sync_count`], counted
    /// since this file system was made): the next sync after the `k`-th fails without
    /// doing anything, and so does every operation after it. The operations between the
    /// `k`-th sync and that attempt still run: none of them is durable without a sync,
    /// so this is the power going at any moment between sync `k` and sync `k + 1`, and
    /// [`PowerLossFs::crash_image_with`] can choose which of them reached the disk
    /// anyway.
    pub fn crash_after_syncs(&self, k: u64) {
        self.lock_tree().crash_at = Some(k);
    }

    /// Turns the machine off now.
    pub fn crash_now(&self) {
        self.lock_tree().crashed = true;
    }

    /// True once the armed power loss happened; every operation fails from then on.
    pub fn is_crashed(&self) -> bool {
        self.lock_tree().crashed
    }

    /// Durability points so far: file syncs, directory syncs and truncates (each makes
    /// something durable, so a sweep over crash points covers all three).
    pub fn sync_count(&self) -> u64 {
        self.lock_tree().counters.total()
    }

    /// [`FsFile::sync_data`] calls that completed.
    pub fn file_sync_count(&self) -> u64 {
        self.lock_tree().counters.file_syncs
    }

    /// [`Fs::sync_dir`] calls that completed.
    pub fn dir_sync_count(&self) -> u64 {
        self.lock_tree().counters.dir_syncs
    }

    /// What the disk holds if the power goes now, as a new file system (everything in
    /// it durable, no syncs counted, nothing armed, no locks held): the synced bytes of
    /// files reachable through synced directory entries. This file system is left as
    /// it is.
    pub fn crash_image(&self) -> PowerLossFs {
        self.crash_image_with(&mut SyncedOnly)
    }

    /// Like [`PowerLossFs::crash_image`], but `survival` decides which unsynced
    /// directory changes and how many unsynced appended bytes survive as well (torn
    /// writes). A file whose live bytes do not extend its durable bytes (overwritten
    /// in place, which the engine never does) keeps its durable bytes.
    pub fn crash_image_with(&self, survival: &mut dyn CrashSurvival) -> PowerLossFs {
        let old = self.lock_tree();
        let mut tables: HashMap<Ino, BTreeMap<String, Ino>> = old
            .nodes
            .iter()
            .filter_map(|(&ino, node)| match node {
                Node::Dir { durable, .. } => Some((ino, durable.clone())),
                Node::File { .. } => None,
            })
            .collect();
        for (dir, op) in &old.pending {
            let change = match op {
                DirOp::Add(name, _) => EntryChange::Created { name },
                DirOp::Remove(name) => EntryChange::Removed { name },
                DirOp::Rename(from, to, _) => EntryChange::Renamed { from, to },
            };
            if !survival.entry_change(change) {
                continue;
            }
            if let Some(table) = tables.get_mut(dir) {
                match op {
                    DirOp::Add(name, ino) => {
                        table.insert(name.clone(), *ino);
                    }
                    DirOp::Remove(name) => {
                        table.remove(name);
                    }
                    DirOp::Rename(from, to, ino) => {
                        table.remove(from);
                        table.insert(to.clone(), *ino);
                    }
                }
            }
        }
        let mut new = Tree::new();
        let mut copy = ImageBuilder {
            old: &old,
            tables: &tables,
            new: &mut new,
            ancestors: vec![ROOT],
            survival,
        };
        copy.dir(ROOT, ROOT, Path::new("/"));
        PowerLossFs {
            tree: Arc::new(Mutex::new(new)),
        }
    }

    fn open_handle(&self, path: &Path, mode: Mode) -> io::Result<Arc<dyn FsFile>> {
        let t = self.lock_tree();
        t.alive()?;
        let ino = t.lookup(path)?;
        t.file_live(ino)?;
        Ok(Arc::new(MemFile {
            tree: Arc::clone(&self.tree),
            ino,
            mode: Mutex::new(mode),
        }))
    }
}

/// Builds a crash image: copies what survives of the old tree into a new one.
struct ImageBuilder<'a> {
    old: &'a Tree,
    /// The surviving entries of every directory of the old tree.
    tables: &'a HashMap<Ino, BTreeMap<String, Ino>>,
    new: &'a mut Tree,
    /// The directories being copied, outermost first: breaks cycles (possible only
    /// through unsynced renames of directories into each other, which the engine never
    /// does).
    ancestors: Vec<Ino>,
    survival: &'a mut dyn CrashSurvival,
}

impl ImageBuilder<'_> {
    /// Copies the surviving entries of directory `from` (old tree) into directory `to`
    /// (new tree), recursively.
    fn dir(&mut self, from: Ino, to: Ino, path: &Path) {
        let Some(table) = self.tables.get(&from) else {
            return;
        };
        for (name, &child) in table {
            let child_path = path.join(name);
            let made = match self.old.nodes.get(&child) {
                Some(Node::File { live, durable }) => {
                    let mut bytes = durable.clone();
                    if let Some(unsynced) = live.strip_prefix(durable.as_slice()) {
                        if !unsynced.is_empty() {
                            let n = self.survival.file_tail(&child_path, unsynced.len() as u64);
                            let n = usize::try_from(n).unwrap_or(usize::MAX).min(unsynced.len());
                            bytes.extend_from_slice(unsynced.get(..n).unwrap_or_default());
                        }
                    }
                    self.new.alloc(Node::File {
                        live: bytes.clone(),
                        durable: bytes,
                    })
                }
                Some(Node::Dir { .. }) if !self.ancestors.contains(&child) => {
                    let ino = self.new.alloc(Node::Dir {
                        live: BTreeMap::new(),
                        durable: BTreeMap::new(),
                    });
                    self.ancestors.push(child);
                    self.dir(child, ino, &child_path);
                    self.ancestors.pop();
                    ino
                }
                _ => continue,
            };
            if let Some(Node::Dir { live, durable }) = self.new.nodes.get_mut(&to) {
                live.insert(name.clone(), made);
                durable.insert(name.clone(), made);
            }
        }
    }
}

impl Fs for PowerLossFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut t = self.lock_tree();
        t.alive()?;
        let mut ino = ROOT;
        for name in components(path)? {
            ino = match t.live_entries(ino)?.get(&name) {
                Some(&child) if t.is_dir(child)? => child,
                Some(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{}: a file is in the way", path.display()),
                    ))
                }
                None => {
                    let child = t.alloc(Node::Dir {
                        live: BTreeMap::new(),
                        durable: BTreeMap::new(),
                    });
                    t.add_entry(ino, name, child)?;
                    child
                }
            };
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let t = self.lock_tree();
        t.alive()?;
        let ino = t.lookup(path)?;
        t.live_entries(ino)?
            .iter()
            .map(|(name, &child)| {
                Ok(DirEntry {
                    name: name.clone(),
                    is_dir: t.is_dir(child)?,
                })
            })
            .collect()
    }

    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        let mut t = self.lock_tree();
        t.alive()?;
        let (dir, name) = t.parent_of(path)?;
        if t.live_entries(dir)?.contains_key(&name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: already exists", path.display()),
            ));
        }
        let ino = t.alloc(Node::File {
            live: Vec::new(),
            durable: Vec::new(),
        });
        t.add_entry(dir, name, ino)?;
        Ok(Arc::new(MemFile {
            tree: Arc::clone(&self.tree),
            ino,
            mode: Mutex::new(Mode::At(0)),
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        self.open_handle(path, Mode::Append)
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        self.open_handle(path, Mode::ReadOnly)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let t = self.lock_tree();
        t.alive()?;
        let ino = t.lookup(path)?;
        t.file_live(ino).cloned()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut t = self.lock_tree();
        t.alive()?;
        let (from_dir, from_name) = t.parent_of(from)?;
        let ino = *t
            .live_entries(from_dir)?
            .get(&from_name)
            .ok_or_else(|| not_found(from))?;
        let (to_dir, to_name) = t.parent_of(to)?;
        if let Some(&existing) = t.live_entries(to_dir)?.get(&to_name) {
            if existing == ino {
                return Ok(());
            }
            match (t.is_dir(ino)?, t.node(existing)?) {
                (false, Node::File { .. }) => {}
                (true, Node::Dir { live, .. }) if live.is_empty() => {}
                (true, Node::Dir { .. }) => {
                    return Err(io::Error::new(
                        io::ErrorKind::DirectoryNotEmpty,
                        format!("{}: directory not empty", to.display()),
                    ))
                }
                (false, Node::Dir { .. }) => return Err(is_a_dir()),
                (true, Node::File { .. }) => return Err(not_a_dir()),
            }
        }
        if t.is_dir(ino)? && t.is_within(to_dir, ino)? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot move a directory into itself",
            ));
        }
        if from_dir == to_dir {
            let entries = t.live_entries_mut(from_dir)?;
            entries.remove(&from_name);
            entries.insert(to_name.clone(), ino);
            t.pending
                .push((from_dir, DirOp::Rename(from_name, to_name, ino)));
        } else {
            t.remove_entry(from_dir, from_name)?;
            t.add_entry(to_dir, to_name, ino)?;
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut t = self.lock_tree();
        t.alive()?;
        let (dir, name) = t.parent_of(path)?;
        let ino = *t
            .live_entries(dir)?
            .get(&name)
            .ok_or_else(|| not_found(path))?;
        if t.is_dir(ino)? {
            return Err(is_a_dir());
        }
        t.remove_entry(dir, name)
    }

    /// Unlinks the directory from its parent. Its own entries are left as they are, so
    /// if the removal is lost in a crash the tree comes back as it was durably.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut t = self.lock_tree();
        t.alive()?;
        let (dir, name) = t.parent_of(path)?;
        let ino = *t
            .live_entries(dir)?
            .get(&name)
            .ok_or_else(|| not_found(path))?;
        if !t.is_dir(ino)? {
            return Err(not_a_dir());
        }
        t.remove_entry(dir, name)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut t = self.lock_tree();
        t.before_sync()?;
        let ino = t.lookup(path)?;
        match t.node_mut(ino)? {
            Node::Dir { live, durable } => *durable = live.clone(),
            Node::File { .. } => return Err(not_a_dir()),
        }
        t.pending.retain(|(dir, _)| *dir != ino);
        t.synced(SyncKind::Dir);
        Ok(())
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let t = self.lock_tree();
        t.alive()?;
        let ino = t.lookup(path)?;
        Ok(t.file_live(ino)?.len() as u64)
    }

    /// Cuts (or extends with zeros) the live bytes and makes the whole file durable, as
    /// [`crate::fs::RealFs::truncate`] does with `sync_all`.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut t = self.lock_tree();
        t.before_sync()?;
        let ino = t.lookup(path)?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        let (live, durable) = t.file_mut(ino)?;
        live.resize(len, 0);
        durable.clone_from(live);
        t.synced(SyncKind::Truncate);
        Ok(())
    }

    /// A copy of the live bytes (the engine maps only files it never changes again).
    fn map(&self, path: &Path) -> io::Result<MappedBytes> {
        let t = self.lock_tree();
        t.alive()?;
        let ino = t.lookup(path)?;
        Ok(MappedBytes::from_vec(t.file_live(ino)?.clone()))
    }

    /// Creates the file like the real lock does (not durably) and records the path as
    /// locked until the returned guard drops. Locks are not part of any crash image.
    fn lock(&self, path: &Path) -> io::Result<FsLock> {
        let mut t = self.lock_tree();
        t.alive()?;
        let (dir, name) = t.parent_of(path)?;
        match t.live_entries(dir)?.get(&name) {
            Some(&ino) => {
                t.file_live(ino)?;
            }
            None => {
                let ino = t.alloc(Node::File {
                    live: Vec::new(),
                    durable: Vec::new(),
                });
                t.add_entry(dir, name, ino)?;
            }
        }
        let key = PathBuf::from_iter(components(path)?);
        if !t.locks.insert(key.clone()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{}: locked", path.display()),
            ));
        }
        Ok(FsLock::new(LockGuard {
            tree: Arc::clone(&self.tree),
            key,
        }))
    }
}

/// Releases a [`PowerLossFs`] lock when dropped.
struct LockGuard {
    tree: Arc<Mutex<Tree>>,
    key: PathBuf,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LockGuard({})", self.key.display())
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.tree
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .locks
            .remove(&self.key);
    }
}

/// Where a handle writes.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// At its own position, which advances (a handle from `create_new`).
    At(u64),
    /// At the end of the file (`open_append`).
    Append,
    /// Nowhere: writes fail (`open_read`).
    ReadOnly,
}

/// An open file of a [`PowerLossFs`]. It refers to the inode, so it keeps working after
/// the file is renamed or removed, as a POSIX file descriptor does.
struct MemFile {
    tree: Arc<Mutex<Tree>>,
    ino: Ino,
    mode: Mutex<Mode>,
}

impl fmt::Debug for MemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemFile(inode {})", self.ino)
    }
}

impl MemFile {
    fn lock_tree(&self) -> MutexGuard<'_, Tree> {
        self.tree.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FsFile for MemFile {
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        let mut t = self.lock_tree();
        t.alive()?;
        let mut mode = self.mode.lock().unwrap_or_else(PoisonError::into_inner);
        let (live, _) = t.file_mut(self.ino)?;
        let at = match *mode {
            Mode::ReadOnly => {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "file opened read-only",
                ))
            }
            Mode::Append => live.len(),
            Mode::At(at) => usize::try_from(at).map_err(io::Error::other)?,
        };
        let end = at.checked_add(buf.len()).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "write past the largest offset")
        })?;
        if live.len() < end {
            live.resize(end, 0);
        }
        if let Some(dst) = live.get_mut(at..end) {
            dst.copy_from_slice(buf);
        }
        if let Mode::At(pos) = &mut *mode {
            *pos = end as u64;
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut t = self.lock_tree();
        t.before_sync()?;
        let (live, durable) = t.file_mut(self.ino)?;
        durable.clone_from(live);
        t.synced(SyncKind::File);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let t = self.lock_tree();
        t.alive()?;
        Ok(t.file_live(self.ino)?.len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let t = self.lock_tree();
        t.alive()?;
        let live = t.file_live(self.ino)?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(live.len());
        let src = live.get(start..).unwrap_or_default();
        let n = src.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), src.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> &Path {
        Path::new(s)
    }

    /// A file `/d/f` holding `bytes`, with every entry and byte durable.
    fn durable_file(bytes: &[u8]) -> PowerLossFs {
        let fs = PowerLossFs::new();
        fs.create_dir_all(p("/d")).unwrap();
        fs.sync_dir(p("/")).unwrap();
        let f = fs.create_new(p("/d/f")).unwrap();
        f.write_all(bytes).unwrap();
        f.sync_data().unwrap();
        fs.sync_dir(p("/d")).unwrap();
        fs
    }

    /// Keeps `bytes` of every unsynced tail and the unsynced entry changes whose
    /// positions are in `entries`; records what it was asked.
    #[derive(Default)]
    struct Keep {
        bytes: u64,
        entries: Vec<usize>,
        asked: Vec<(PathBuf, u64)>,
        changes: Vec<String>,
    }

    impl Keep {
        fn bytes(bytes: u64) -> Keep {
            Keep {
                bytes,
                ..Keep::default()
            }
        }

        fn entries(entries: &[usize]) -> Keep {
            Keep {
                entries: entries.to_vec(),
                ..Keep::default()
            }
        }
    }

    impl CrashSurvival for Keep {
        fn file_tail(&mut self, path: &Path, unsynced: u64) -> u64 {
            self.asked.push((path.to_path_buf(), unsynced));
            self.bytes
        }

        fn entry_change(&mut self, change: EntryChange<'_>) -> bool {
            let i = self.changes.len();
            self.changes.push(format!("{change:?}"));
            self.entries.contains(&i)
        }
    }

    #[test]
    fn unsynced_entry_changes_survive_as_chosen_in_order() {
        let fs = durable_file(b"old");
        let a = fs.create_new(p("/d/a")).unwrap();
        a.write_all(b"A").unwrap();
        a.sync_data().unwrap();
        fs.rename(p("/d/a"), p("/d/f")).unwrap();
        fs.create_new(p("/d/b")).unwrap();

        let mut none = Keep::entries(&[]);
        let img = fs.crash_image_with(&mut none);
        assert_eq!(names(&img, "/d"), ["f"]);
        assert_eq!(img.read(p("/d/f")).unwrap(), b"old");
        assert_eq!(
            none.changes,
            [
                r#"Created { name: "a" }"#,
                r#"Renamed { from: "a", to: "f" }"#,
                r#"Created { name: "b" }"#
            ]
        );
        // the creation alone: the synced file is there under its first name
        let img = fs.crash_image_with(&mut Keep::entries(&[0]));
        assert_eq!(names(&img, "/d"), ["a", "f"]);
        assert_eq!(img.read(p("/d/a")).unwrap(), b"A");
        // creation and rename (atomic): the new content replaced the old
        let img = fs.crash_image_with(&mut Keep::entries(&[0, 1]));
        assert_eq!(names(&img, "/d"), ["f"]);
        assert_eq!(img.read(p("/d/f")).unwrap(), b"A");
        // a later creation without the earlier ones: an empty file, never synced
        let img = fs.crash_image_with(&mut Keep::entries(&[2]));
        assert_eq!(names(&img, "/d"), ["b", "f"]);
        assert!(img.read(p("/d/b")).unwrap().is_empty());
        // a directory sync leaves nothing to choose
        fs.sync_dir(p("/d")).unwrap();
        let mut after = Keep::entries(&[]);
        let img = fs.crash_image_with(&mut after);
        assert!(after.changes.is_empty());
        assert_eq!(names(&img, "/d"), ["b", "f"]);
    }

    #[test]
    fn a_rename_between_directories_can_survive_half_way() {
        let fs = durable_file(b"v");
        fs.create_dir_all(p("/e")).unwrap();
        fs.sync_dir(p("/")).unwrap();
        fs.rename(p("/d/f"), p("/e/f")).unwrap();
        // removal from /d survives, creation in /e does not: the file is gone
        let img = fs.crash_image_with(&mut Keep::entries(&[0]));
        assert!(names(&img, "/d").is_empty() && names(&img, "/e").is_empty());
        // both survive as separate changes
        let img = fs.crash_image_with(&mut Keep::entries(&[0, 1]));
        assert_eq!(img.read(p("/e/f")).unwrap(), b"v");
    }

    fn names(fs: &PowerLossFs, dir: &str) -> Vec<String> {
        fs.list_dir(p(dir))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect()
    }

    #[test]
    fn synced_data_under_a_synced_entry_survives() {
        let fs = durable_file(b"abc");
        let img = fs.crash_image();
        assert_eq!(img.read(p("/d/f")).unwrap(), b"abc");
        assert_eq!(img.crash_image().read(p("/d/f")).unwrap(), b"abc");
    }

    #[test]
    fn unsynced_bytes_are_lost_unless_torn_through() {
        let fs = durable_file(b"abc");
        let f = fs.open_append(p("/d/f")).unwrap();
        f.write_all(b"defg").unwrap();
        assert_eq!(
            fs.read(p("/d/f")).unwrap(),
            b"abcdefg",
            "reads see live bytes"
        );
        assert_eq!(fs.crash_image().read(p("/d/f")).unwrap(), b"abc");
        let mut keep = Keep::bytes(2);
        let torn = fs.crash_image_with(&mut keep);
        assert_eq!(torn.read(p("/d/f")).unwrap(), b"abcde");
        assert_eq!(keep.asked, [(PathBuf::from("/d/f"), 4)]);
        let all = fs.crash_image_with(&mut Keep::bytes(u64::MAX));
        assert_eq!(all.read(p("/d/f")).unwrap(), b"abcdefg", "clamped");
        f.sync_data().unwrap();
        assert_eq!(fs.crash_image().read(p("/d/f")).unwrap(), b"abcdefg");
    }

    #[test]
    fn a_file_whose_entry_was_never_synced_vanishes_even_if_synced() {
        let fs = durable_file(b"x");
        let g = fs.create_new(p("/d/g")).unwrap();
        g.write_all(b"data").unwrap();
        g.sync_data().unwrap();
        assert_eq!(names(&fs.crash_image(), "/d"), ["f"]);
        fs.sync_dir(p("/d")).unwrap();
        assert_eq!(fs.crash_image().read(p("/d/g")).unwrap(), b"data");
    }

    #[test]
    fn a_created_directory_needs_its_parent_synced() {
        let fs = PowerLossFs::new();
        fs.create_dir_all(p("/a/b")).unwrap();
        fs.sync_dir(p("/a/b")).unwrap();
        fs.sync_dir(p("/a")).unwrap();
        assert!(names(&fs.crash_image(), "/").is_empty());
        fs.sync_dir(p("/")).unwrap();
        let img = fs.crash_image();
        assert_eq!(names(&img, "/a"), ["b"]);
    }

    #[test]
    fn rename_without_a_directory_sync_is_lost() {
        let fs = durable_file(b"old");
        let t = fs.create_new(p("/d/f.tmp")).unwrap();
        t.write_all(b"new").unwrap();
        t.sync_data().unwrap();
        fs.rename(p("/d/f.tmp"), p("/d/f")).unwrap();
        assert_eq!(fs.read(p("/d/f")).unwrap(), b"new");
        assert_eq!(names(&fs, "/d"), ["f"]);
        let img = fs.crash_image();
        assert_eq!(img.read(p("/d/f")).unwrap(), b"old", "rename lost");
        assert_eq!(names(&img, "/d"), ["f"], "and so was the tmp creation");
        fs.sync_dir(p("/d")).unwrap();
        let img = fs.crash_image();
        assert_eq!(img.read(p("/d/f")).unwrap(), b"new");
        assert_eq!(names(&img, "/d"), ["f"]);
    }

    #[test]
    fn rename_between_directories_needs_both_synced() {
        let fs = durable_file(b"v");
        fs.create_dir_all(p("/e")).unwrap();
        fs.sync_dir(p("/")).unwrap();
        fs.rename(p("/d/f"), p("/e/f")).unwrap();
        fs.sync_dir(p("/d")).unwrap();
        let img = fs.crash_image();
        assert!(names(&img, "/d").is_empty() && names(&img, "/e").is_empty());
        fs.sync_dir(p("/e")).unwrap();
        assert_eq!(fs.crash_image().read(p("/e/f")).unwrap(), b"v");
    }

    #[test]
    fn removal_without_a_directory_sync_comes_back() {
        let fs = durable_file(b"keep");
        fs.remove_file(p("/d/f")).unwrap();
        assert!(fs.read(p("/d/f")).is_err());
        assert_eq!(fs.crash_image().read(p("/d/f")).unwrap(), b"keep");
        fs.remove_dir_all(p("/d")).unwrap();
        assert_eq!(fs.crash_image().read(p("/d/f")).unwrap(), b"keep");
        fs.sync_dir(p("/")).unwrap();
        assert!(names(&fs.crash_image(), "/").is_empty());
    }

    #[test]
    fn a_renamed_directory_keeps_its_synced_entries() {
        let fs = PowerLossFs::new();
        fs.create_dir_all(p("/s/x.tmp")).unwrap();
        fs.sync_dir(p("/")).unwrap();
        let f = fs.create_new(p("/s/x.tmp/meta")).unwrap();
        f.write_all(b"m").unwrap();
        f.sync_data().unwrap();
        fs.sync_dir(p("/s/x.tmp")).unwrap();
        fs.rename(p("/s/x.tmp"), p("/s/x")).unwrap();
        assert!(names(&fs.crash_image(), "/s").is_empty());
        fs.sync_dir(p("/s")).unwrap();
        assert_eq!(fs.crash_image().read(p("/s/x/meta")).unwrap(), b"m");
    }

    #[test]
    fn truncate_is_durable_at_once() {
        let fs = durable_file(b"0123456789");
        fs.truncate(p("/d/f"), 4).unwrap();
        assert_eq!(fs.crash_image().read(p("/d/f")).unwrap(), b"0123");
        assert_eq!(fs.sync_count(), 4, "2 dir syncs, 1 file sync, 1 truncate");
    }

    #[test]
    fn crash_after_k_syncs_stops_everything_from_the_next_sync() {
        let fs = PowerLossFs::new();
        fs.crash_after_syncs(2);
        fs.create_dir_all(p("/d")).unwrap();
        fs.sync_dir(p("/")).unwrap();
        let f = fs.create_new(p("/d/f")).unwrap();
        f.write_all(b"a").unwrap();
        f.sync_data().unwrap();
        // not durable without a sync, so these still run
        f.write_all(b"b").unwrap();
        fs.create_new(p("/d/g")).unwrap();
        assert!(!fs.is_crashed());
        assert!(
            fs.sync_dir(p("/d")).is_err(),
            "the third sync never happens"
        );
        assert!(fs.is_crashed());
        assert!(f.write_all(b"c").is_err());
        assert!(f.sync_data().is_err());
        assert!(fs.read(p("/d/f")).is_err());
        assert!(fs.list_dir(p("/")).is_err());
        assert!(fs.create_dir_all(p("/x")).is_err());
        assert_eq!((fs.file_sync_count(), fs.dir_sync_count()), (1, 1));
        // the entries of f and g were never synced
        assert!(names(&fs.crash_image(), "/d").is_empty());
        let img = fs.crash_image_with(&mut Keep {
            bytes: 1,
            entries: vec![0],
            ..Keep::default()
        });
        assert_eq!(img.read(p("/d/f")).unwrap(), b"ab");

        let off = PowerLossFs::new();
        off.crash_after_syncs(0);
        off.create_dir_all(p("/x")).unwrap();
        assert!(off.sync_dir(p("/")).is_err());
        assert!(off.is_crashed());
    }

    #[test]
    fn handles_survive_rename_and_removal_and_modes_are_kept() {
        let fs = durable_file(b"ab");
        let f = fs.create_new(p("/d/g")).unwrap();
        f.write_all(b"12").unwrap();
        fs.rename(p("/d/g"), p("/d/h")).unwrap();
        f.write_all(b"34").unwrap();
        assert_eq!(fs.read(p("/d/h")).unwrap(), b"1234");
        let r = fs.open_read(p("/d/h")).unwrap();
        assert!(r.write_all(b"x").is_err());
        fs.remove_file(p("/d/h")).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(r.read_at(&mut buf, 1).unwrap(), 3);
        assert_eq!(&buf[..3], b"234");
        assert_eq!(r.read_at(&mut buf, 10).unwrap(), 0);
        assert!(fs.create_new(p("/d/f")).is_err(), "never overwrites");
        assert!(fs.create_new(p("/nope/f")).is_err());
        assert!(fs.open_append(p("/d")).is_err(), "a directory");
        assert_eq!(&*fs.map(p("/d/f")).unwrap(), b"ab");
    }

    #[test]
    fn rename_refuses_what_posix_refuses() {
        let fs = durable_file(b"1");
        fs.create_dir_all(p("/d/sub/deeper")).unwrap();
        assert!(fs.rename(p("/d"), p("/d/sub/deeper/d")).is_err());
        assert!(fs.rename(p("/d/f"), p("/d/sub")).is_err());
        assert!(fs.rename(p("/d/sub"), p("/d/f")).is_err());
        fs.create_dir_all(p("/e")).unwrap();
        fs.rename(p("/d/sub"), p("/e")).unwrap();
        assert_eq!(names(&fs, "/e"), ["deeper"]);
        assert!(fs.rename(p("/missing"), p("/x")).is_err());
    }

    #[test]
    fn locks_exclude_until_dropped_and_do_not_survive_a_crash() {
        let fs = PowerLossFs::new();
        fs.create_dir_all(p("/db")).unwrap();
        let held = fs.lock(p("/db/LOCK")).unwrap();
        let e = fs.lock(p("/db/LOCK")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let img = fs.crash_image();
        img.create_dir_all(p("/db")).unwrap();
        drop(img.lock(p("/db/LOCK")).unwrap());
        drop(held);
        drop(fs.lock(p("/db/LOCK")).unwrap());
    }
}
