//! The shard ring: which collector scrapes which target, so several servers share one
//! target list without scraping a target twice and without talking to each other.
//!
//! Every collector builds the same [`Ring`] from the same member list (the `--shard-index`
//! / `--shard-count` flags, whose members are `"0"`..`"n-1"`, or a member list read from a
//! file) and keeps the targets it [owns](Ring::owns). Nothing is exchanged at run time, so
//! the assignment must be a pure function of (member names, target) that every process
//! computes identically.
//!
//! # Algorithm: rendezvous (highest-random-weight) hashing
//!
//! Each member gets a score for a target, a hash of (member, target); the member with the
//! highest score owns the target. Chosen over a ring with virtual nodes, Jump and Maglev
//! because:
//!
//! - **Movement is exact, not approximate.** Adding a member changes a target's owner only
//!   when the new member's score beats the old winner, so targets move *only to* the new
//!   member, and on average 1/(n+1) of them. Removing a member moves exactly the targets it
//!   owned, and nothing else. This holds for any hash function; the hash only decides how
//!   close to 1/n the fraction is. A virtual-node ring has the same "only to/from" property
//!   but its fraction depends on where the removed member's points fell. Jump hash moves
//!   targets only when the *last* bucket is added or removed (a member list from a file can
//!   lose any member), and Maglev gives up a little movement for its lookup table.
//! - **Balance is that of a uniform random assignment** (a multinomial), without tuning:
//!   measured on 10 members and 100,000 synthetic targets, max/mean load is 1.0189
//!   (min/mean 0.9890), see the `balance` test. A virtual-node ring needs ~100-200 points
//!   per member to come within a few percent of that, and its balance degrades as members
//!   change.
//! - **Lookup cost is O(members)**, one 16-byte XXH3 per member (measured by the
//!   `#[ignore]`d `lookup_rate` test, release build, one core of a busy shared machine:
//!   13-21 M lookups/s with 10 members, 4-5 M with 100). Ownership is decided when the
//!   target list changes, not on every scrape, so even 100 members and 1,000,000 targets
//!   re-assign in a fraction of a second.
//!   The ring holds no table: building it from a new member list is O(members).
//!
//! # The hash, fixed and documented
//!
//! A hash change reshuffles every fleet (each collector would drop and pick up targets, and
//! a mixed-version fleet would scrape some targets twice and others not at all), so the
//! function is part of the interface, pinned by the `determinism` test. All hashes are
//! XXH3-64 (`twox-hash`, the reference algorithm, identical on every platform and endianness
//! and independent of the Rust version, unlike `std`'s `DefaultHasher`), little-endian:
//!
//! ```text
//! H(member)       = XXH3_64(seed 0, member name bytes)
//! H(job, address) = XXH3_64(seed XXH3_64(seed 0, job bytes), address bytes)
//! score(m, t)     = XXH3_64(seed 0, le64(H(m)) ‖ le64(H(t)))     (16 bytes)
//! owner(t)        = the member with the highest score; on an equal score (2^-64) the
//!                   member whose name sorts first, so the order of the list never matters.
//! ```
//!
//! Seeding the address hash with the job hash keeps ("ab", "c") and ("a", "bc") apart
//! without building a joined buffer. The 16-byte score input goes through XXH3's 9-16 byte
//! path, whose 128-bit multiply mixes both halves; scoring `H(t)` alone under a member seed
//! would reduce to a fixed mixer of `H(t) ^ f(seed)`.

use std::collections::HashSet;

use thiserror::Error;
use twox_hash::XxHash3_64;

/// Why a member list or a shard setting was refused. A collector with a bad list must not
/// start: an empty or ambiguous ring would silently scrape nothing or scrape twice.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RingError {
    /// The member list has no members: no one would own any target.
    #[error("the shard ring has no members")]
    Empty,
    /// A name appears twice; the two entries would be one member, so the list does not say
    /// what the operator meant (usually a copy-paste slip in the member file).
    #[error("shard member {name:?} is listed twice")]
    Duplicate {
        /// The repeated name.
        name: String,
    },
    /// A member name is empty or has leading or trailing whitespace. Names are hashed
    /// byte for byte, so `"a "` and `"a"` are different members; refusing them avoids a
    /// collector that believes it is `a` while the file lists `a ` and owns nothing.
    #[error("shard member name {name:?} is empty or has surrounding whitespace")]
    InvalidName {
        /// The refused name.
        name: String,
    },
    /// `--shard-count` was 0.
    #[error("the shard count must be at least 1")]
    ZeroShards,
    /// `--shard-index` is not below `--shard-count`.
    #[error("shard index {index} is out of range for {count} shards (0..{count})")]
    IndexOutOfRange {
        /// The given index.
        index: usize,
        /// The given count.
        count: usize,
    },
    /// This collector's own name is not in the member list, so it would own nothing.
    #[error("this collector, {name:?}, is not a member of the shard ring")]
    NotAMember {
        /// The collector's name.
        name: String,
    },
}

/// The members sharing a target list, and the function that assigns each target to one of
/// them (see the module docs for the algorithm and its guarantees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    /// Member names in the order given (only [`Ring::members`] shows it; the assignment
    /// does not depend on it).
    members: Vec<String>,
    /// `H(member)` for each entry of `members`, computed once.
    hashes: Vec<u64>,
}

impl Ring {
    /// A ring over these member names.
    ///
    /// # Errors
    /// [`RingError::Empty`] for no members, [`RingError::Duplicate`] for a repeated name,
    /// [`RingError::InvalidName`] for an empty name or one with surrounding whitespace.
    pub fn new<I, S>(members: I) -> Result<Ring, RingError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let members: Vec<String> = members.into_iter().map(Into::into).collect();
        if members.is_empty() {
            return Err(RingError::Empty);
        }
        let mut seen = HashSet::with_capacity(members.len());
        for name in &members {
            if name.is_empty() || name.trim() != name {
                return Err(RingError::InvalidName { name: name.clone() });
            }
            if !seen.insert(name.as_str()) {
                return Err(RingError::Duplicate { name: name.clone() });
            }
        }
        let hashes = members.iter().map(|m| member_hash(m)).collect();
        Ok(Ring { members, hashes })
    }

    /// The ring of `--shard-count` collectors, members `"0"`..`"count-1"`, with this
    /// collector as member `index`.
    ///
    /// # Errors
    /// [`RingError::ZeroShards`] for `count == 0`, [`RingError::IndexOutOfRange`] for
    /// `index >= count`.
    pub fn from_shards(index: usize, count: usize) -> Result<Shard, RingError> {
        if count == 0 {
            return Err(RingError::ZeroShards);
        }
        if index >= count {
            return Err(RingError::IndexOutOfRange { index, count });
        }
        let ring = Ring::new((0..count).map(|i| i.to_string()))?;
        Shard::new(ring, index.to_string())
    }

    /// A ring from the text of a member file: one name per line, surrounding whitespace
    /// trimmed, blank lines and lines starting with `#` skipped.
    ///
    /// # Errors
    /// As [`Ring::new`]: a file with no names is [`RingError::Empty`], a name on two lines
    /// is [`RingError::Duplicate`].
    pub fn parse_member_list(text: &str) -> Result<Ring, RingError> {
        Ring::new(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#')),
        )
    }

    /// The member names, in the order given.
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// The member that scrapes the target `(job, address)`.
    pub fn owner(&self, job: impl AsRef<[u8]>, address: impl AsRef<[u8]>) -> &str {
        let target = target_hash(job.as_ref(), address.as_ref());
        // `new` refuses an empty list, so index 0 exists; starting from it also makes the
        // loop below the whole comparison.
        let mut best = 0;
        let mut best_score = score(self.hashes[0], target);
        for (i, &member) in self.hashes.iter().enumerate().skip(1) {
            let s = score(member, target);
            if s > best_score || (s == best_score && self.members[i] < self.members[best]) {
                best = i;
                best_score = s;
            }
        }
        &self.members[best]
    }

    /// Whether member `me` scrapes the target `(job, address)`; false when `me` is not a
    /// member at all.
    pub fn owns(&self, me: &str, job: impl AsRef<[u8]>, address: impl AsRef<[u8]>) -> bool {
        self.owner(job, address) == me
    }
}

/// One collector's view of the ring: the ring and the member this collector is, checked to
/// be a member so a misconfigured collector fails at start instead of owning nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    ring: Ring,
    me: String,
}

impl Shard {
    /// This collector as member `me` of `ring`.
    ///
    /// # Errors
    /// [`RingError::NotAMember`] when `me` is not one of the ring's members.
    pub fn new(ring: Ring, me: impl Into<String>) -> Result<Shard, RingError> {
        let me = me.into();
        if !ring.members.contains(&me) {
            return Err(RingError::NotAMember { name: me });
        }
        Ok(Shard { ring, me })
    }

    /// Whether this collector scrapes the target `(job, address)`.
    pub fn owns(&self, job: impl AsRef<[u8]>, address: impl AsRef<[u8]>) -> bool {
        self.ring.owns(&self.me, job, address)
    }

    /// This collector's member name.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// The whole ring.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }
}

/// `H(member)` of the module docs.
fn member_hash(name: &str) -> u64 {
    XxHash3_64::oneshot(name.as_bytes())
}

/// `H(job, address)` of the module docs.
fn target_hash(job: &[u8], address: &[u8]) -> u64 {
    XxHash3_64::oneshot_with_seed(XxHash3_64::oneshot(job), address)
}

/// `score(m, t)` of the module docs.
fn score(member: u64, target: u64) -> u64 {
    let mut input = [0u8; 16];
    input[..8].copy_from_slice(&member.to_le_bytes());
    input[8..].copy_from_slice(&target.to_le_bytes());
    XxHash3_64::oneshot(&input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// The synthetic fleet of the balance and movement tests: 100,000 distinct targets over
    /// 50 jobs, addresses `10.x.y.z:9100`.
    fn fleet() -> Vec<(String, String)> {
        (0u32..100_000)
            .map(|i| {
                (
                    format!("job-{}", i % 50),
                    format!("10.{}.{}.{}:9100", (i >> 16) & 255, (i >> 8) & 255, i & 255),
                )
            })
            .collect()
    }

    fn owners(ring: &Ring, targets: &[(String, String)]) -> Vec<String> {
        targets
            .iter()
            .map(|(job, addr)| ring.owner(job, addr).to_owned())
            .collect()
    }

    fn shards(count: usize) -> Ring {
        Ring::new((0..count).map(|i| i.to_string())).unwrap()
    }

    /// A uniform random assignment of 100,000 targets to 10 members gives each a
    /// Binomial(100000, 0.1) load: mean 10,000, standard deviation 95. The largest of ten
    /// is typically mean + 1.5 sd (max/mean ~1.015); 1.05 is 5.3 sd, which a uniform hash
    /// exceeds with probability ~1e-6, so failing it means the scores are biased.
    #[test]
    fn balance() {
        let ring = shards(10);
        let targets = fleet();
        let mut load: HashMap<String, usize> = HashMap::new();
        for owner in owners(&ring, &targets) {
            *load.entry(owner).or_default() += 1;
        }
        assert_eq!(load.len(), 10, "every member owns some targets: {load:?}");
        let mean = targets.len() as f64 / 10.0;
        let max = *load.values().max().unwrap() as f64 / mean;
        let min = *load.values().min().unwrap() as f64 / mean;
        println!("10 members, 100000 targets: max/mean {max:.4}, min/mean {min:.4}");
        assert!(max <= 1.05, "max/mean {max} > 1.05: {load:?}");
        assert!(min >= 0.95, "min/mean {min} < 0.95: {load:?}");
    }

    /// 1/11 of 100,000 is 9,091 with a standard deviation of 91 (0.0009 as a fraction);
    /// ±0.005 is more than 5 sd.
    #[test]
    fn adding_a_member_moves_about_one_in_n_only_to_it() {
        let targets = fleet();
        let before = owners(&shards(10), &targets);
        let after = owners(&shards(11), &targets);
        let mut moved = 0;
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            if a != b {
                moved += 1;
                assert_eq!(a, "10", "target {:?} moved {b} -> {a}", targets[i]);
            }
        }
        let fraction = moved as f64 / targets.len() as f64;
        println!(
            "adding an 11th member moved {fraction:.4} (1/11 = {:.4})",
            1.0 / 11.0
        );
        assert!((fraction - 1.0 / 11.0).abs() < 0.005, "moved {fraction}");
    }

    #[test]
    fn removing_a_member_moves_exactly_its_targets() {
        let targets = fleet();
        let before = owners(&shards(10), &targets);
        let ring = Ring::new((0..10).filter(|&i| i != 3).map(|i| i.to_string())).unwrap();
        let after = owners(&ring, &targets);
        let mut moved = 0;
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            assert_eq!(a != b, b == "3", "target {:?}: {b} -> {a}", targets[i]);
            moved += usize::from(a != b);
        }
        let fraction = moved as f64 / targets.len() as f64;
        println!("removing 1 of 10 members moved {fraction:.4} (1/10)");
        assert!((fraction - 0.1).abs() < 0.005, "moved {fraction}");
    }

    /// The assignment is part of the interface: every collector of a fleet, whatever its
    /// platform or version, must compute it identically. If this test fails, the hash or
    /// the scoring changed, which reshuffles every deployed fleet: do not update the table
    /// unless that is the intent (and then say so in the release notes). The values were
    /// cross-checked against the C reference XXH3 (through Python's `xxhash` 3.x binding)
    /// computing the formula of the module docs.
    #[test]
    fn determinism() {
        assert_eq!(member_hash("0"), 0x1982_e3a7_bb24_1055);
        let target = target_hash(b"node", b"10.0.0.1:9100");
        assert_eq!(target, 0xa52b_19b6_3a86_6454);
        assert_eq!(score(member_hash("0"), target), 0xaaef_f8e9_4f67_1de7);
        let ring = shards(10);
        let table = [
            ("node", "10.0.0.1:9100", "9"),
            ("node", "10.0.0.2:9100", "5"),
            ("node", "10.0.0.3:9100", "6"),
            ("node", "10.1.2.3:9100", "0"),
            ("prometheus", "localhost:9090", "4"),
            ("api", "api-1.example.com:8080", "7"),
            ("api", "api-2.example.com:8080", "9"),
            ("job-7", "10.0.3.7:9100", "7"),
        ];
        for (job, address, owner) in table {
            assert_eq!(ring.owner(job, address), owner, "{job} {address}");
        }
    }

    #[test]
    fn member_order_does_not_matter() {
        let targets = &fleet()[..2_000];
        let forward = shards(7);
        let backward = Ring::new((0..7).rev().map(|i| i.to_string())).unwrap();
        assert_eq!(owners(&forward, targets), owners(&backward, targets));
    }

    #[test]
    fn job_and_address_are_kept_apart() {
        assert_ne!(target_hash(b"ab", b"c"), target_hash(b"a", b"bc"));
        assert_ne!(target_hash(b"", b"x"), target_hash(b"x", b""));
    }

    #[test]
    fn owns_and_shard() {
        let ring = shards(3);
        let owner = ring.owner("node", "10.0.0.1:9100").to_owned();
        for m in ring.members() {
            assert_eq!(ring.owns(m, "node", "10.0.0.1:9100"), *m == owner);
        }
        assert!(!ring.owns("not-a-member", "node", "10.0.0.1:9100"));

        let owning: Vec<bool> = (0..3)
            .map(|i| {
                Ring::from_shards(i, 3)
                    .unwrap()
                    .owns("node", "10.0.0.1:9100")
            })
            .collect();
        assert_eq!(owning.iter().filter(|&&o| o).count(), 1, "{owning:?}");
        let shard = Ring::from_shards(2, 3).unwrap();
        assert_eq!(shard.me(), "2");
        assert_eq!(shard.ring().members(), ["0", "1", "2"]);
        assert_eq!(shard.ring(), &ring);
    }

    #[test]
    fn member_file() {
        let ring = Ring::parse_member_list(
            "# collectors\n\n  scrape-a \nscrape-b\r\n# scrape-c\nscrape-d\n",
        )
        .unwrap();
        assert_eq!(ring.members(), ["scrape-a", "scrape-b", "scrape-d"]);
        assert_eq!(
            Ring::parse_member_list("# nobody\n\n"),
            Err(RingError::Empty)
        );
        assert_eq!(
            Ring::parse_member_list("a\nb\n a\n"),
            Err(RingError::Duplicate { name: "a".into() })
        );
    }

    #[test]
    fn errors() {
        assert_eq!(Ring::new(Vec::<String>::new()), Err(RingError::Empty));
        assert_eq!(
            Ring::new(["a", "b", "a"]),
            Err(RingError::Duplicate { name: "a".into() })
        );
        assert_eq!(
            Ring::new(["a", ""]),
            Err(RingError::InvalidName {
                name: String::new()
            })
        );
        assert_eq!(
            Ring::new(["a", "b "]),
            Err(RingError::InvalidName { name: "b ".into() })
        );
        assert_eq!(Ring::from_shards(0, 0), Err(RingError::ZeroShards));
        assert_eq!(
            Ring::from_shards(3, 3),
            Err(RingError::IndexOutOfRange { index: 3, count: 3 })
        );
        assert_eq!(
            Shard::new(shards(2), "2"),
            Err(RingError::NotAMember { name: "2".into() })
        );
        assert_eq!(
            RingError::IndexOutOfRange { index: 3, count: 3 }.to_string(),
            "shard index 3 is out of range for 3 shards (0..3)"
        );
        assert_eq!(
            RingError::Duplicate { name: "a".into() }.to_string(),
            "shard member \"a\" is listed twice"
        );
    }

    proptest! {
        /// On any small member set: adding a member moves targets only to it, removing one
        /// moves exactly the targets it owned.
        #[test]
        fn movement_only_involves_the_changed_member(
            members in proptest::collection::btree_set("[a-z0-9]{1,6}", 1..8),
            extra in "[A-Z]{1,6}",
            remove in any::<prop::sample::Index>(),
            targets in proptest::collection::vec(("[a-z]{0,8}", "[0-9.:]{0,16}"), 1..200),
        ) {
            let members: Vec<String> = members.into_iter().collect();
            let ring = Ring::new(members.clone()).unwrap();
            let before: Vec<String> =
                targets.iter().map(|(j, a)| ring.owner(j, a).to_owned()).collect();

            let grown = Ring::new(members.iter().cloned().chain([extra.clone()])).unwrap();
            for ((j, a), b) in targets.iter().zip(&before) {
                let now = grown.owner(j, a);
                prop_assert!(now == b || now == extra, "{j:?} {a:?}: {b} -> {now}");
            }

            if members.len() > 1 {
                let gone = &members[remove.index(members.len())];
                let shrunk =
                    Ring::new(members.iter().filter(|m| *m != gone).cloned()).unwrap();
                for ((j, a), b) in targets.iter().zip(&before) {
                    let now = shrunk.owner(j, a);
                    prop_assert_eq!(now != b, b == gone, "{:?} {:?}: {} -> {}", j, a, b, now);
                }
            }
        }
    }

    /// Ignored because it is a timing, not a check: run with
    /// `cargo test -p tsdb-scrape --release -- --ignored --nocapture lookup_rate`.
    #[test]
    #[ignore = "a timing for the report, not a correctness check; run it in release mode"]
    fn lookup_rate() {
        let targets = fleet();
        for members in [3, 10, 100] {
            let ring = shards(members);
            let start = std::time::Instant::now();
            let mut owned = 0usize;
            for _ in 0..5 {
                for (job, addr) in &targets {
                    owned += usize::from(ring.owns("0", job, addr));
                }
            }
            let secs = start.elapsed().as_secs_f64();
            let rate = (5 * targets.len()) as f64 / secs;
            println!("{members} members: {rate:.0} lookups/s ({owned} owned by \"0\")");
            assert!(owned > 0);
        }
    }
}
