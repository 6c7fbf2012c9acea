//! RFC 6962 (and RFC 9162 §2.1) Merkle tree hashing, proofs and their
//! verification, over a store of complete-subtree hashes.
//!
//! A tree of `n` leaves is stored as every *complete* subtree hash: the hash
//! at `(level, index)` covers leaves `[index·2^level, (index+1)·2^level)`.
//! Appending leaf `n` adds its leaf hash and one hash per level that the new
//! leaf completes (the same layout as Go's `golang.org/x/mod/sumdb/tlog`
//! stored hashes), so a server keeps ~2n hashes and answers any proof for
//! any tree size with O(log n) reads. Every hash of an incomplete subtree is
//! computed from complete ones.
//!
//! Why our own ~300 lines instead of a crate: the browser side needs only the
//! two verification functions and a compact range, and the wasm module is
//! held to a size budget; the crates that exist either keep the whole tree in
//! memory (ct-merkle) or bring URL, JSON and tiling machinery (tlog_tiles).
//! This module is checked against transparency-dev's RFC 6962 test data and
//! against ct-merkle on random trees (tests/log_merkle.rs).

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// Longest proof for any tree of at most 2^64 leaves is 64 hashes
/// (consistency: 2 per level at worst, bounded by `2·64`).
pub const MAX_PROOF_LEN: usize = 128;

/// `SHA-256(0x00 || data)`: the hash of a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Read access to stored complete-subtree hashes.
pub trait HashReader {
    /// The hash of the complete subtree at `level` and `index`, or an error
    /// if it is not stored (the tree is smaller).
    fn read(&self, level: u8, index: u64) -> Result<Hash>;
}

/// The hashes to store when leaf number `n` (0-based) with hash `leaf` is
/// appended to a tree of `n` leaves: `(level, index, hash)`, the leaf first.
pub fn hashes_to_store(
    n: u64,
    leaf: Hash,
    reader: &impl HashReader,
) -> Result<Vec<(u8, u64, Hash)>> {
    let mut out = vec![(0u8, n, leaf)];
    let mut hash = leaf;
    let mut index = n;
    let mut level = 0u8;
    // The new leaf completes a subtree at each level where its index is odd.
    while index & 1 == 1 {
        let left = reader.read(level, index - 1)?;
        hash = node_hash(&left, &hash);
        level += 1;
        index >>= 1;
        out.push((level, index, hash));
    }
    Ok(out)
}

/// Largest power of two strictly less than `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[lo..hi])` for a range that arises in the RFC 6962 recursion
/// (`lo` aligned to the largest power of two not above `hi - lo`).
fn subtree(lo: u64, hi: u64, reader: &impl HashReader) -> Result<Hash> {
    let n = hi
        .checked_sub(lo)
        .ok_or(Error::InvalidArgument("tree range"))?;
    if n == 0 {
        return Err(Error::InvalidArgument("tree range"));
    }
    if n.is_power_of_two() {
        let level = n.trailing_zeros() as u8;
        if !lo.is_multiple_of(n) {
            return Err(Error::InvalidArgument("tree range"));
        }
        return reader.read(level, lo >> level);
    }
    let k = split(n);
    let left = subtree(lo, lo + k, reader)?;
    let right = subtree(lo + k, hi, reader)?;
    Ok(node_hash(&left, &right))
}

/// The root hash of the first `size` leaves.
pub fn tree_hash(size: u64, reader: &impl HashReader) -> Result<Hash> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree(0, size, reader)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves
/// (RFC 6962 §2.1.1 `PATH`), leaf side first.
pub fn prove_inclusion(index: u64, size: u64, reader: &impl HashReader) -> Result<Vec<Hash>> {
    if index >= size {
        return Err(Error::InvalidArgument("leaf index outside the tree"));
    }
    let mut proof = Vec::new();
    path(index, 0, size, reader, &mut proof)?;
    Ok(proof)
}

fn path(m: u64, lo: u64, hi: u64, reader: &impl HashReader, out: &mut Vec<Hash>) -> Result<()> {
    let n = hi - lo;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(m, lo, lo + k, reader, out)?;
        out.push(subtree(lo + k, hi, reader)?);
    } else {
        path(m - k, lo + k, hi, reader, out)?;
        out.push(subtree(lo, lo + k, reader)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `old` and `new` leaves
/// (RFC 6962 §2.1.2 `PROOF`). Empty when `old` is 0 or equals `new`.
pub fn prove_consistency(old: u64, new: u64, reader: &impl HashReader) -> Result<Vec<Hash>> {
    if old > new {
        return Err(Error::InvalidArgument("old tree larger than new tree"));
    }
    let mut proof = Vec::new();
    if old == 0 || old == new {
        return Ok(proof);
    }
    subproof(old, 0, new, true, reader, &mut proof)?;
    Ok(proof)
}

fn subproof(
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    reader: &impl HashReader,
    out: &mut Vec<Hash>,
) -> Result<()> {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push(subtree(lo, hi, reader)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(m, lo, lo + k, whole, reader, out)?;
        out.push(subtree(lo + k, hi, reader)?);
    } else {
        subproof(m - k, lo + k, hi, false, reader, out)?;
        out.push(subtree(lo, lo + k, reader)?);
    }
    Ok(())
}

fn proof_failed() -> Error {
    Error::Malformed("Merkle proof does not verify")
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves with root
/// `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<()> {
    if index >= size || proof.len() > MAX_PROOF_LEN {
        return Err(proof_failed());
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(proof_failed());
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && bool::from(subtle::ConstantTimeEq::ct_eq(&r[..], &root[..])) {
        Ok(())
    } else {
        Err(proof_failed())
    }
}

/// Checks that the tree of `new` leaves with root `new_root` extends the tree
/// of `old` leaves with root `old_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<()> {
    if old > new || proof.len() > MAX_PROOF_LEN {
        return Err(proof_failed());
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(proof_failed())
        };
    }
    if old == 0 {
        // Every tree extends the empty tree; RFC 9162 defines no proof for it.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(proof_failed())
        };
    }
    // If `old` is a power of two, the old root is the first proof node.
    let mut nodes: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        nodes.push(old_root);
    }
    nodes.extend(proof.iter());
    let (first, rest) = nodes.split_first().ok_or_else(proof_failed)?;
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (**first, **first);
    for c in rest {
        if sn == 0 {
            return Err(proof_failed());
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && &fr == old_root && &sr == new_root {
        Ok(())
    } else {
        Err(proof_failed())
    }
}

/// The right edge of a tree: the roots of its complete subtrees, largest
/// first (a "compact range" from 0). Enough to append leaves and compute the
/// new root without the rest of the tree: a client that holds the edge of the
/// tree it last verified checks new entries by folding them in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A frontier from its parts: `peaks` must hold one hash per set bit of
    /// `size`, largest subtree first.
    pub fn from_parts(size: u64, peaks: Vec<Hash>) -> Result<Self> {
        if peaks.len() != size.count_ones() as usize {
            return Err(Error::Malformed("log frontier"));
        }
        Ok(Frontier { size, peaks })
    }

    /// The frontier of the first `size` leaves of a stored tree.
    pub fn read(size: u64, reader: &impl HashReader) -> Result<Self> {
        let mut peaks = Vec::new();
        let mut lo = 0u64;
        for level in (0..64u8).rev() {
            if size >> level & 1 == 1 {
                peaks.push(reader.read(level, lo >> level)?);
                lo += 1 << level;
            }
        }
        Ok(Frontier { size, peaks })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The complete-subtree roots, largest first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut n = self.size;
        while n & 1 == 1 {
            match self.peaks.pop() {
                Some(left) => hash = node_hash(&left, &hash),
                None => break,
            }
            n >>= 1;
        }
        self.peaks.push(hash);
        self.size += 1;
    }

    /// The root hash.
    pub fn root(&self) -> Hash {
        let mut it = self.peaks.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(last) => it.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

/// A whole tree in memory: for tests, benchmarks and small logs.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf by its data.
    pub fn push(&mut self, data: &[u8]) {
        self.push_hash(leaf_hash(data));
    }

    /// Appends a leaf by its leaf hash.
    pub fn push_hash(&mut self, leaf: Hash) {
        let n = self.size();
        // Reads of our own levels: the hashes a push needs are always there.
        if let Ok(hashes) = hashes_to_store(n, leaf, self) {
            for (level, _, h) in hashes {
                let level = usize::from(level);
                while self.levels.len() <= level {
                    self.levels.push(Vec::new());
                }
                if let Some(l) = self.levels.get_mut(level) {
                    l.push(h);
                }
            }
        }
    }

    /// Root of the first `size` leaves.
    pub fn root(&self, size: u64) -> Result<Hash> {
        if size > self.size() {
            return Err(Error::InvalidArgument("tree size beyond the log"));
        }
        tree_hash(size, self)
    }
}

impl HashReader for MemoryTree {
    fn read(&self, level: u8, index: u64) -> Result<Hash> {
        self.levels
            .get(usize::from(level))
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(Error::InvalidArgument("tree size beyond the log"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_pair_up_to_40() {
        let mut t = MemoryTree::new();
        let mut roots = vec![empty_root()];
        let mut f = Frontier::new();
        for i in 0..40u32 {
            t.push(&i.to_be_bytes());
            f.push(leaf_hash(&i.to_be_bytes()));
            let r = t.root(t.size()).unwrap();
            assert_eq!(f.root(), r);
            assert_eq!(Frontier::read(t.size(), &t).unwrap(), f);
            roots.push(r);
        }
        for n in 1..=40u64 {
            for i in 0..n {
                let p = prove_inclusion(i, n, &t).unwrap();
                let leaf = leaf_hash(&(i as u32).to_be_bytes());
                verify_inclusion(&leaf, i, n, &p, &roots[n as usize]).unwrap();
                assert!(
                    verify_inclusion(&leaf, i, n, &p, &roots[n as usize - 1]).is_err() || n == 1
                );
            }
            for m in 0..=n {
                let p = prove_consistency(m, n, &t).unwrap();
                verify_consistency(m, n, &roots[m as usize], &roots[n as usize], &p).unwrap();
                if m > 0 && m < n {
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(
                        verify_consistency(m, n, &roots[m as usize], &roots[n as usize], &bad)
                            .is_err()
                    );
                }
            }
        }
    }
}
