//! RFC 6962 Merkle trees (src/log/merkle.rs) checked against implementations
//! written elsewhere:
//!
//! - transparency-dev/merkle's RFC 6962 test data, transcribed in
//!   tests/vectors/log/transparency-dev.json (its `source` names the commit
//!   and the files): the complete-subtree hashes and roots of its 8-leaf
//!   tree, its reference proofs, and its 196 verifier probes, most of them
//!   tampered proofs that a verifier must refuse (`td_*` tests);
//! - google/certificate-transparency's, the C++ and Python log code that RFC
//!   6962 came with, in tests/vectors/log/certificate-transparency.json: the
//!   same tree's roots and proofs, hasher vectors, the C++ verifier's edge
//!   cases and tamper checks (ported as code, `cpp_verifier_check`), and an
//!   inclusion proof from a real CT log of 3,630,887 entries (`ct_*` tests);
//! - the ct-merkle crate (rozbb/ct-merkle 0.3, RFC 6962), on random trees:
//!   the same roots, byte-identical proofs, and each side verifies the
//!   other's (`ct_merkle_*` property tests);
//! - and an exhaustive check of every tree size up to 128: every proof
//!   verifies, and a proof with one hash flipped, dropped or added, or
//!   presented for a neighbouring size, does not (`exhaustive_*`).
//!
//! Where a source's verdict differs from ours by a documented policy, not a
//! bug, the case is listed in [`POLICY`] with the reason; the test pins our
//! verdict there, so that a change of policy shows up here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use medseal::log::merkle::{
    empty_root, hashes_to_store, leaf_hash, node_hash, prove_consistency, prove_inclusion,
    tree_hash, verify_consistency, verify_inclusion, Frontier, Hash, HashReader, MemoryTree,
};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------
// Vector files

fn load<T: DeserializeOwned>(name: &str) -> T {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/log")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// tests/vectors/log/transparency-dev.json: github.com/transparency-dev/merkle
/// at the commit its `source` gives.
#[derive(Deserialize)]
struct TransparencyDev {
    /// rfc6962/rfc6962_test.go
    hasher: TdHasher,
    /// testonly/constants.go `LeafInputs`
    leaf_inputs: Vec<String>,
    /// testonly/constants.go `NodeHashes`: `[level][index]`
    node_hashes: Vec<Vec<String>>,
    /// testonly/constants.go `RootHashes`: by tree size, from 0
    root_hashes: Vec<String>,
    /// testonly/constants.go `CompactTrees`: the peaks, largest first, by size
    compact_trees: Vec<Vec<String>>,
    /// testonly/reference_test.go `TestRefInclusionProof`
    inclusion_proofs: Vec<RefInclusion>,
    /// testonly/reference_test.go `TestRefConsistencyProof`
    consistency_proofs: Vec<RefConsistency>,
    /// testdata/inclusion/**.json
    inclusion_probes: Vec<InclusionProbe>,
    /// testdata/consistency/**.json
    consistency_probes: Vec<ConsistencyProbe>,
}

#[derive(Deserialize)]
struct TdHasher {
    empty_root: String,
    leaves: Vec<LeafVector>,
}

#[derive(Deserialize)]
struct LeafVector {
    data: String,
    hash: String,
}

#[derive(Deserialize)]
struct NodeVector {
    left: String,
    right: String,
    hash: String,
}

#[derive(Deserialize)]
struct RefInclusion {
    index: u64,
    size: u64,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct RefConsistency {
    size1: u64,
    size2: u64,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct InclusionProbe {
    file: String,
    leaf_index: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Vec<String>,
    want_err: bool,
}

#[derive(Deserialize)]
struct ConsistencyProbe {
    file: String,
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Vec<String>,
    want_err: bool,
}

/// tests/vectors/log/certificate-transparency.json:
/// github.com/google/certificate-transparency at the commit its `source` gives.
#[derive(Deserialize)]
struct CertificateTransparency {
    /// cpp/merkletree/tree_hasher_test.cc
    empty_root: String,
    leaves: Vec<LeafVector>,
    nodes: Vec<NodeVector>,
    /// cpp/merkletree/merkle_tree_test.cc `kInputs`
    inputs: Vec<String>,
    /// cpp/merkletree/merkle_tree_test.cc `kSHA256Roots`: sizes 1..=8
    roots: Vec<String>,
    /// cpp/merkletree/merkle_tree_test.cc `kSHA256Paths`: 1-based leaf
    paths: Vec<CtPath>,
    /// cpp/merkletree/merkle_tree_test.cc `kSHA256Proofs`
    proofs: Vec<CtProof>,
    /// python/ct/crypto/merkle_test.py `MerkleVerifierTest`
    python_consistency: Vec<PyConsistency>,
    /// cpp/merkletree/merkle_tree_test.cc `MerkleVerifierTest.VerifyPath`
    cpp_verify_path_edge_cases: Vec<CppPathEdge>,
    /// cpp/merkletree/merkle_tree_test.cc `MerkleVerifierTest.VerifyConsistencyProof`
    cpp_verify_consistency_edge_cases: Vec<CppConsistencyEdge>,
    /// python/ct/crypto/merkle_test.py `MerkleVerifierTest`: a real log's proof
    log_inclusion: LogInclusion,
}

#[derive(Deserialize)]
struct CtPath {
    leaf: u64,
    snapshot: u64,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct CtProof {
    snapshot1: u64,
    snapshot2: u64,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct PyConsistency {
    test: String,
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Vec<String>,
    accept: bool,
}

#[derive(Deserialize)]
struct CppPathEdge {
    leaf: u64,
    snapshot: u64,
    root: String,
    data: String,
    proof: Vec<String>,
    accept: bool,
}

#[derive(Deserialize)]
struct CppConsistencyEdge {
    snapshot1: u64,
    snapshot2: u64,
    root1: String,
    root2: String,
    proof: Vec<String>,
    accept: bool,
}

#[derive(Deserialize)]
struct LogInclusion {
    leaf_index: u64,
    tree_size: u64,
    leaf: String,
    leaf_hash: String,
    audit_path: Vec<String>,
    root: String,
}

// ---------------------------------------------------------------------------
// Where our verdict differs from a source's, on purpose

/// Cases whose source verdict we do not share, and why. The tests expect the
/// opposite of the source's verdict for exactly these, and fail if one of
/// them is no longer met (so a stale entry, or a change of policy, shows).
const POLICY: &[(&str, &str)] = &[
    (
        "transparency-dev consistency/additional/size1-is-zero-and-size2-is-not-zero.json",
        "size1 = 0: ours accepts (0, n) with an empty proof whatever the old root \
         ('every tree extends the empty tree'), as the C++ CT verifier does; transparency-dev \
         refuses every size1 = 0 since its commit 022f84c (2024), as ct-merkle does",
    ),
    (
        "transparency-dev consistency/additional/size1-is-zero-and-does-not-equal-size2.json",
        "size1 = 0, as above",
    ),
    (
        "transparency-dev consistency/additional/sizes-are-equal-zero-and-proof-is-empty.json",
        "size1 = size2 = 0 with equal roots and no proof: ours accepts, as for any equal sizes",
    ),
    (
        "certificate-transparency merkle_test.py test_verify_tree_consistency_always_accepts_empty_tree (0, 1, 1 hashes)",
        "the Python verifier ignores a bogus proof for size1 = 0; ours requires it empty \
         (as transparency-dev and the C++ verifier do)",
    ),
    (
        "certificate-transparency merkle_test.py test_verify_tree_consistency_for_equal_tree_sizes (3, 3, 1 hashes)",
        "the Python verifier ignores a bogus proof for equal sizes; ours requires it empty \
         (RFC 9162 §2.1.4: the proof for equal trees is empty; transparency-dev, C++ agree)",
    ),
];

/// Collects verdicts that differ from the expected ones, to report them all at once.
#[derive(Default)]
struct Verdicts {
    wrong: Vec<String>,
    policy_used: BTreeSet<&'static str>,
    checked: usize,
}

impl Verdicts {
    /// `their_accept` is the source's verdict for case `id`; `ours` is ours.
    fn check(&mut self, id: &str, their_accept: bool, ours: bool) {
        self.checked += 1;
        let mut want = their_accept;
        if let Some((key, _)) = POLICY.iter().find(|(key, _)| *key == id) {
            self.policy_used.insert(key);
            want = !their_accept;
        }
        if ours != want {
            self.wrong.push(format!(
                "{id}: ours {}, expected {} (source says {})",
                verdict(ours),
                verdict(want),
                verdict(their_accept)
            ));
        }
    }

    /// Panics with every wrong verdict, and with every [`POLICY`] entry under
    /// `prefix` that no case used.
    fn finish(self, prefix: &str) {
        let stale: Vec<&str> = POLICY
            .iter()
            .map(|(key, _)| *key)
            .filter(|key| key.starts_with(prefix) && !self.policy_used.contains(key))
            .collect();
        assert!(
            self.wrong.is_empty() && stale.is_empty(),
            "{} of {} verdicts differ:\n{}\nunused POLICY entries: {stale:?}",
            self.wrong.len(),
            self.checked,
            self.wrong.join("\n")
        );
    }
}

fn verdict(accept: bool) -> &'static str {
    if accept {
        "accepts"
    } else {
        "refuses"
    }
}

// ---------------------------------------------------------------------------
// Helpers

fn bytes(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// A 32-byte hash from hex (the vector must hold exactly 32 bytes).
fn h(s: &str) -> Hash {
    bytes(s).try_into().unwrap()
}

fn hashes(v: &[String]) -> Vec<Hash> {
    v.iter().map(|s| h(s)).collect()
}

/// Our API takes only 32-byte hashes, but the sources also hand their
/// verifiers values of other lengths (`""`, `"WrongLeaf"`, `"don't care 1"`)
/// that a typed caller cannot even pass. Such a value becomes a 32-byte
/// stand-in equal to no real hash: SHA-256 of a label, its role (`root`,
/// `leaf` or `node`) and the value, so that equal values in the same role
/// stay equal (two equal garbage roots) while a garbage leaf never equals a
/// garbage root. The case is then still checked for what it meant: a wrong
/// leaf, a wrong root, a garbage proof element.
fn stand_in(role: &str, value: &[u8]) -> Hash {
    match <Hash>::try_from(value) {
        Ok(hash) => hash,
        Err(_) => {
            let mut d = Sha256::new();
            d.update(b"medseal test: not a 32-byte hash: ");
            d.update(role.as_bytes());
            d.update(b":");
            d.update(value);
            d.finalize().into()
        }
    }
}

fn stand_in_hex(role: &str, s: &str) -> Hash {
    stand_in(role, &bytes(s))
}

fn tree_of(leaves: &[Vec<u8>]) -> MemoryTree {
    let mut t = MemoryTree::new();
    for leaf in leaves {
        t.push(leaf);
    }
    t
}

/// Roots of every prefix of `t`, by size from 0.
fn roots_of(t: &MemoryTree) -> Vec<Hash> {
    (0..=t.size()).map(|n| t.root(n).unwrap()).collect()
}

/// Notes `what` as wrongly accepted, if it was.
fn refuse(wrong: &mut Vec<String>, ctx: &str, what: &str, accepted: bool) {
    if accepted {
        wrong.push(format!("{ctx}: accepted {what}"));
    }
}

fn inclusion_ok(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    verify_inclusion(leaf, index, size, proof, root).is_ok()
}

fn consistency_ok(m: u64, n: u64, old: &Hash, new: &Hash, proof: &[Hash]) -> bool {
    verify_consistency(m, n, old, new, proof).is_ok()
}

/// A hash store of our own, filled only through [`hashes_to_store`], so that
/// the store layout is checked apart from [`MemoryTree`].
#[derive(Default)]
struct MapStore {
    hashes: HashMap<(u8, u64), Hash>,
    size: u64,
}

impl MapStore {
    fn push(&mut self, leaf: Hash) {
        for (level, index, hash) in hashes_to_store(self.size, leaf, self).unwrap() {
            assert!(
                self.hashes.insert((level, index), hash).is_none(),
                "hash ({level}, {index}) stored twice"
            );
        }
        self.size += 1;
    }
}

impl HashReader for MapStore {
    fn read(&self, level: u8, index: u64) -> medseal::Result<Hash> {
        self.hashes
            .get(&(level, index))
            .copied()
            .ok_or(medseal::Error::InvalidArgument("not stored"))
    }
}

// ---------------------------------------------------------------------------
// The C++ CT verifier's tamper checks, ported

/// google/certificate-transparency cpp/merkletree/merkle_tree_test.cc
/// `MerkleVerifierTest::VerifierCheck`, ported: the proof must verify, and
/// every wrong variant it lists must not. `leaf` is 1-based as there (leaf 0
/// is invalid, which our 0-based index cannot even express, so it counts as
/// refused); the C++'s empty-string garbage element becomes [`stand_in`].
/// Returns the variants that were judged wrongly.
fn cpp_verifier_check(
    leaf: u64,
    size: u64,
    path: &[Hash],
    root: &Hash,
    data: &[u8],
) -> Vec<String> {
    let lh = leaf_hash(data);
    let v = |leaf: u64, size: u64, path: &[Hash], root: &Hash, lh: &Hash| {
        leaf >= 1 && inclusion_ok(lh, leaf - 1, size, path, root)
    };
    let ctx = format!("inclusion leaf {leaf} of {size}");
    if !v(leaf, size, path, root, &lh) {
        return vec![format!("{ctx}: refused the good proof")];
    }
    let mut wrong = Vec::new();
    let w = &mut wrong;
    for l in [leaf - 1, leaf + 1, leaf ^ 2] {
        refuse(w, &ctx, &format!("leaf {l}"), v(l, size, path, root, &lh));
    }
    for s in [size * 2, size / 2] {
        refuse(
            w,
            &ctx,
            &format!("tree size {s}"),
            v(leaf, s, path, root, &lh),
        );
    }
    refuse(
        w,
        &ctx,
        "wrong leaf",
        v(leaf, size, path, root, &leaf_hash(b"WrongLeaf")),
    );
    refuse(
        w,
        &ctx,
        "wrong root",
        v(leaf, size, path, &empty_root(), &lh),
    );
    for j in 0..path.len() {
        let mut p = path.to_vec();
        p[j] = empty_root();
        refuse(
            w,
            &ctx,
            &format!("path[{j}] replaced"),
            v(leaf, size, &p, root, &lh),
        );
    }
    let garbage = stand_in("node", b"");
    let mut p = path.to_vec();
    p.push(garbage);
    refuse(w, &ctx, "garbage appended", v(leaf, size, &p, root, &lh));
    p.pop();
    p.push(*root);
    refuse(w, &ctx, "root appended", v(leaf, size, &p, root, &lh));
    p.pop();
    if p.pop().is_some() {
        refuse(w, &ctx, "last node removed", v(leaf, size, &p, root, &lh));
    }
    let mut p = vec![garbage];
    p.extend_from_slice(path);
    refuse(w, &ctx, "garbage prepended", v(leaf, size, &p, root, &lh));
    p[0] = *root;
    refuse(w, &ctx, "root prepended", v(leaf, size, &p, root, &lh));
    wrong
}

/// google/certificate-transparency cpp/merkletree/merkle_tree_test.cc
/// `MerkleVerifierTest::VerifierConsistencyCheck`, ported like
/// [`cpp_verifier_check`] (its `"WrongRoot"` also becomes a stand-in).
fn cpp_verifier_consistency_check(
    m: u64,
    n: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Vec<String> {
    let ctx = format!("consistency {m} -> {n}");
    if !consistency_ok(m, n, root1, root2, proof) {
        return vec![format!("{ctx}: refused the good proof")];
    }
    let mut wrong = Vec::new();
    if proof.is_empty() {
        // As in the C++: only non-trivial proofs are tampered with.
        return wrong;
    }
    let w = &mut wrong;
    for s in [m - 1, m + 1, m ^ 2] {
        refuse(
            w,
            &ctx,
            &format!("size1 {s}"),
            consistency_ok(s, n, root1, root2, proof),
        );
    }
    for s in [n * 2, n / 2] {
        refuse(
            w,
            &ctx,
            &format!("size2 {s}"),
            consistency_ok(m, s, root1, root2, proof),
        );
    }
    let wrong_root = stand_in("root", b"WrongRoot");
    refuse(
        w,
        &ctx,
        "wrong root2",
        consistency_ok(m, n, root1, &wrong_root, proof),
    );
    refuse(
        w,
        &ctx,
        "wrong root1",
        consistency_ok(m, n, &wrong_root, root2, proof),
    );
    refuse(
        w,
        &ctx,
        "swapped roots",
        consistency_ok(m, n, root2, root1, proof),
    );
    refuse(
        w,
        &ctx,
        "empty proof",
        consistency_ok(m, n, root1, root2, &[]),
    );
    for j in 0..proof.len() {
        let mut p = proof.to_vec();
        p[j] = empty_root();
        refuse(
            w,
            &ctx,
            &format!("proof[{j}] replaced"),
            consistency_ok(m, n, root1, root2, &p),
        );
    }
    let garbage = stand_in("node", b"");
    let mut p = proof.to_vec();
    p.push(garbage);
    refuse(
        w,
        &ctx,
        "garbage appended",
        consistency_ok(m, n, root1, root2, &p),
    );
    p.pop();
    p.push(proof[proof.len() - 1]);
    refuse(
        w,
        &ctx,
        "last node repeated",
        consistency_ok(m, n, root1, root2, &p),
    );
    p.pop();
    p.pop();
    refuse(
        w,
        &ctx,
        "last node removed",
        consistency_ok(m, n, root1, root2, &p),
    );
    let mut p = vec![garbage];
    p.extend_from_slice(proof);
    refuse(
        w,
        &ctx,
        "garbage prepended",
        consistency_ok(m, n, root1, root2, &p),
    );
    p[0] = proof[0];
    refuse(
        w,
        &ctx,
        "first node repeated",
        consistency_ok(m, n, root1, root2, &p),
    );
    wrong
}

// ---------------------------------------------------------------------------
// transparency-dev/merkle

#[test]
fn td_hasher() {
    let v: TransparencyDev = load("transparency-dev.json");
    assert_eq!(empty_root(), h(&v.hasher.empty_root));
    for l in &v.hasher.leaves {
        assert_eq!(leaf_hash(&bytes(&l.data)), h(&l.hash), "leaf {}", l.data);
    }
}

#[test]
fn td_tree_hashes_roots_and_frontiers_at_every_size() {
    let v: TransparencyDev = load("transparency-dev.json");
    let inputs: Vec<Vec<u8>> = v.leaf_inputs.iter().map(|s| bytes(s)).collect();
    assert_eq!(inputs.len(), 8);
    let t = tree_of(&inputs);

    // Leaf and node hashes, level by level, and the stored complete subtrees.
    for (i, input) in inputs.iter().enumerate() {
        assert_eq!(leaf_hash(input), h(&v.node_hashes[0][i]), "leaf {i}");
    }
    for level in 1..v.node_hashes.len() {
        for (i, want) in v.node_hashes[level].iter().enumerate() {
            let below = &v.node_hashes[level - 1];
            let got = node_hash(&h(&below[2 * i]), &h(&below[2 * i + 1]));
            assert_eq!(got, h(want), "node ({level}, {i})");
        }
    }
    for (level, row) in v.node_hashes.iter().enumerate() {
        for (i, want) in row.iter().enumerate() {
            assert_eq!(
                t.read(level as u8, i as u64).unwrap(),
                h(want),
                "stored ({level}, {i})"
            );
        }
        assert!(t.read(level as u8, row.len() as u64).is_err());
    }
    assert!(t.read(v.node_hashes.len() as u8, 0).is_err());

    // Roots of the empty tree and of every size, from the whole tree, from a
    // tree of just that size, from a store filled by `hashes_to_store`, and
    // from a frontier; the frontier's peaks are their compact tree.
    let mut frontier = Frontier::new();
    let mut store = MapStore::default();
    for size in 0..=8usize {
        if size > 0 {
            frontier.push(leaf_hash(&inputs[size - 1]));
            store.push(leaf_hash(&inputs[size - 1]));
        }
        let n = size as u64;
        let root = h(&v.root_hashes[size]);
        assert_eq!(tree_hash(n, &t).unwrap(), root, "size {size}");
        assert_eq!(t.root(n).unwrap(), root, "size {size}");
        assert_eq!(
            tree_of(&inputs[..size]).root(n).unwrap(),
            root,
            "size {size}"
        );
        assert_eq!(tree_hash(n, &store).unwrap(), root, "size {size}");
        let peaks = hashes(&v.compact_trees[size]);
        assert_eq!(frontier.size(), n);
        assert_eq!(frontier.root(), root, "size {size}");
        assert_eq!(frontier.peaks(), peaks.as_slice(), "size {size}");
        assert_eq!(Frontier::read(n, &t).unwrap(), frontier, "size {size}");
        assert_eq!(
            Frontier::from_parts(n, peaks).unwrap().root(),
            root,
            "size {size}"
        );
    }
    assert_eq!(v.root_hashes.len(), 9);
    assert!(t.root(9).is_err());
    assert!(tree_hash(9, &t).is_err());
}

#[test]
fn td_reference_proofs_are_ours_byte_for_byte() {
    let v: TransparencyDev = load("transparency-dev.json");
    let inputs: Vec<Vec<u8>> = v.leaf_inputs.iter().map(|s| bytes(s)).collect();
    let t = tree_of(&inputs);
    let roots = hashes(&v.root_hashes);
    for p in &v.inclusion_proofs {
        let want = hashes(&p.proof);
        let ours = prove_inclusion(p.index, p.size, &t).unwrap();
        assert_eq!(ours, want, "inclusion {} of {}", p.index, p.size);
        let leaf = leaf_hash(&inputs[p.index as usize]);
        verify_inclusion(&leaf, p.index, p.size, &want, &roots[p.size as usize]).unwrap();
    }
    for p in &v.consistency_proofs {
        let want = hashes(&p.proof);
        let ours = prove_consistency(p.size1, p.size2, &t).unwrap();
        assert_eq!(ours, want, "consistency {} -> {}", p.size1, p.size2);
        let (r1, r2) = (&roots[p.size1 as usize], &roots[p.size2 as usize]);
        verify_consistency(p.size1, p.size2, r1, r2, &want).unwrap();
    }
    assert_eq!(
        (v.inclusion_proofs.len(), v.consistency_proofs.len()),
        (7, 4)
    );
}

#[test]
fn td_every_proof_of_the_8_leaf_tree_verifies_against_their_hashes() {
    let v: TransparencyDev = load("transparency-dev.json");
    let inputs: Vec<Vec<u8>> = v.leaf_inputs.iter().map(|s| bytes(s)).collect();
    let t = tree_of(&inputs);
    let roots = hashes(&v.root_hashes);
    let leaves = hashes(&v.node_hashes[0]);
    for n in 1..=8u64 {
        for i in 0..n {
            let p = prove_inclusion(i, n, &t).unwrap();
            verify_inclusion(&leaves[i as usize], i, n, &p, &roots[n as usize]).unwrap();
        }
        for m in 0..=n {
            let p = prove_consistency(m, n, &t).unwrap();
            verify_consistency(m, n, &roots[m as usize], &roots[n as usize], &p).unwrap();
        }
    }
}

#[test]
fn td_inclusion_probes() {
    let v: TransparencyDev = load("transparency-dev.json");
    let inputs: Vec<Vec<u8>> = v.leaf_inputs.iter().map(|s| bytes(s)).collect();
    let t = tree_of(&inputs);
    let roots = hashes(&v.root_hashes);
    let mut verdicts = Verdicts::default();
    let mut same_bytes = 0;
    for p in &v.inclusion_probes {
        let leaf = stand_in_hex("leaf", &p.leaf_hash);
        let root = stand_in_hex("root", &p.root);
        let proof: Vec<Hash> = p.proof.iter().map(|s| stand_in_hex("node", s)).collect();
        let ours = inclusion_ok(&leaf, p.leaf_index, p.tree_size, &proof, &root);
        verdicts.check(&format!("transparency-dev {}", p.file), !p.want_err, ours);
        // Their good proofs in the 8-leaf tree: ours are the same bytes.
        let (i, n) = (p.leaf_index, p.tree_size);
        if !p.want_err
            && n <= 8
            && root == roots[n as usize]
            && leaf == leaf_hash(&inputs[i as usize])
        {
            assert_eq!(prove_inclusion(i, n, &t).unwrap(), proof, "{}", p.file);
            same_bytes += 1;
        }
    }
    assert_eq!(v.inclusion_probes.len(), 98);
    assert_eq!(same_bytes, 5);
    verdicts.finish("transparency-dev inclusion/");
}

#[test]
fn td_consistency_probes() {
    let v: TransparencyDev = load("transparency-dev.json");
    let inputs: Vec<Vec<u8>> = v.leaf_inputs.iter().map(|s| bytes(s)).collect();
    let t = tree_of(&inputs);
    let roots = hashes(&v.root_hashes);
    let mut verdicts = Verdicts::default();
    let mut same_bytes = 0;
    for p in &v.consistency_probes {
        let root1 = stand_in_hex("root", &p.root1);
        let root2 = stand_in_hex("root", &p.root2);
        let proof: Vec<Hash> = p.proof.iter().map(|s| stand_in_hex("node", s)).collect();
        let ours = consistency_ok(p.size1, p.size2, &root1, &root2, &proof);
        verdicts.check(&format!("transparency-dev {}", p.file), !p.want_err, ours);
        let (m, n) = (p.size1, p.size2);
        if !p.want_err
            && m <= n
            && n <= 8
            && root1 == roots[m as usize]
            && root2 == roots[n as usize]
        {
            assert_eq!(prove_consistency(m, n, &t).unwrap(), proof, "{}", p.file);
            same_bytes += 1;
        }
    }
    assert_eq!(v.consistency_probes.len(), 98);
    assert_eq!(same_bytes, 5);
    verdicts.finish("transparency-dev consistency/");
}

// ---------------------------------------------------------------------------
// google/certificate-transparency

#[test]
fn ct_hasher() {
    let v: CertificateTransparency = load("certificate-transparency.json");
    assert_eq!(empty_root(), h(&v.empty_root));
    for l in &v.leaves {
        assert_eq!(leaf_hash(&bytes(&l.data)), h(&l.hash), "leaf {}", l.data);
    }
    for n in &v.nodes {
        assert_eq!(node_hash(&h(&n.left), &h(&n.right)), h(&n.hash));
    }
    // The empty tree is not the empty leaf.
    assert_ne!(empty_root(), leaf_hash(b""));
}

#[test]
fn ct_roots_paths_and_proofs() {
    let v: CertificateTransparency = load("certificate-transparency.json");
    let inputs: Vec<Vec<u8>> = v.inputs.iter().map(|s| bytes(s)).collect();
    let t = tree_of(&inputs);
    // kSHA256Roots[i] is the root of i + 1 leaves.
    let mut roots = vec![empty_root()];
    roots.extend(hashes(&v.roots));
    assert_eq!(roots_of(&t), roots);

    let mut wrong = Vec::new();
    for p in &v.paths {
        let want = hashes(&p.proof);
        if p.leaf == 0 || p.leaf > p.snapshot {
            // The C++ answers an empty path for an invalid request; we refuse it.
            assert!(want.is_empty());
            assert!(prove_inclusion(p.leaf.saturating_sub(1), p.snapshot, &t).is_err());
            continue;
        }
        let index = p.leaf - 1;
        assert_eq!(
            prove_inclusion(index, p.snapshot, &t).unwrap(),
            want,
            "path {} of {}",
            p.leaf,
            p.snapshot
        );
        let root = &roots[p.snapshot as usize];
        wrong.extend(cpp_verifier_check(
            p.leaf,
            p.snapshot,
            &want,
            root,
            &inputs[index as usize],
        ));
    }
    for p in &v.proofs {
        let want = hashes(&p.proof);
        let (m, n) = (p.snapshot1, p.snapshot2);
        assert_eq!(
            prove_consistency(m, n, &t).unwrap(),
            want,
            "proof {m} -> {n}"
        );
        let (r1, r2) = (&roots[m as usize], &roots[n as usize]);
        wrong.extend(cpp_verifier_consistency_check(m, n, r1, r2, &want));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn ct_verifier_edge_cases_and_python_consistency_cases() {
    let v: CertificateTransparency = load("certificate-transparency.json");
    let mut verdicts = Verdicts::default();
    for c in &v.cpp_verify_path_edge_cases {
        let id = format!(
            "certificate-transparency VerifyPath({}, {}, root {:?})",
            c.leaf, c.snapshot, c.root
        );
        let proof: Vec<Hash> = c.proof.iter().map(|s| stand_in_hex("node", s)).collect();
        // Leaf 0 (1-based) has no 0-based index: refused, as in the C++.
        let ours = c.leaf >= 1
            && inclusion_ok(
                &leaf_hash(&bytes(&c.data)),
                c.leaf - 1,
                c.snapshot,
                &proof,
                &stand_in_hex("root", &c.root),
            );
        verdicts.check(&id, c.accept, ours);
    }
    for c in &v.cpp_verify_consistency_edge_cases {
        let id = format!(
            "certificate-transparency VerifyConsistency({}, {}, {:?}, {:?}, {} hashes)",
            c.snapshot1,
            c.snapshot2,
            c.root1,
            c.root2,
            c.proof.len()
        );
        let proof: Vec<Hash> = c.proof.iter().map(|s| stand_in_hex("node", s)).collect();
        let (r1, r2) = (
            stand_in_hex("root", &c.root1),
            stand_in_hex("root", &c.root2),
        );
        verdicts.check(
            &id,
            c.accept,
            consistency_ok(c.snapshot1, c.snapshot2, &r1, &r2, &proof),
        );
    }
    for c in &v.python_consistency {
        let id = format!(
            "certificate-transparency merkle_test.py {} ({}, {}, {} hashes)",
            c.test,
            c.size1,
            c.size2,
            c.proof.len()
        );
        let proof = hashes(&c.proof);
        let ours = consistency_ok(c.size1, c.size2, &h(&c.root1), &h(&c.root2), &proof);
        verdicts.check(&id, c.accept, ours);
    }
    assert_eq!(verdicts.checked, 8 + 11 + 12);
    verdicts.finish("certificate-transparency");
}

#[test]
fn ct_real_log_inclusion_proof() {
    let v: CertificateTransparency = load("certificate-transparency.json");
    let p = &v.log_inclusion;
    let leaf = leaf_hash(&bytes(&p.leaf));
    assert_eq!(leaf, h(&p.leaf_hash));
    let path = hashes(&p.audit_path);
    let root = h(&p.root);
    let (i, n) = (p.leaf_index, p.tree_size);
    verify_inclusion(&leaf, i, n, &path, &root).unwrap();
    // python/ct/crypto/merkle_test.py: a zero root, and an index past the
    // reach of the path (test_calculate_root_too_short_proof).
    assert!(!inclusion_ok(&leaf, i, n, &path, &[0; 32]));
    assert!(!inclusion_ok(
        &leaf,
        i + (1 << (path.len() + 1)),
        n,
        &path,
        &root
    ));
    // And the C++ tamper checks on it.
    let wrong = cpp_verifier_check(i + 1, n, &path, &root, &bytes(&p.leaf));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------
// ct-merkle (rozbb/ct-merkle), on random trees
//
// ct-merkle hashes a leaf as SHA-256(0x00 || bytes) for any `AsRef<[u8]>`
// value (its `HashableLeaf` blanket impl adds no length or framing), and a
// node as SHA-256(0x01 || left || right): RFC 6962's, like ours, so the same
// leaf bytes go to both. Its proofs are the concatenated 32-byte hashes, in
// RFC 6962 order; it proves only against its current size, so a proof for
// an older size comes from a tree of that many leaves, and a consistency
// proof from the newer tree with `num_additions = n - m`. It refuses m = 0.

type CtTree = MemoryBackedTree<Sha256, Vec<u8>>;

fn ct_tree(leaves: &[Vec<u8>]) -> CtTree {
    let mut t = CtTree::new();
    for leaf in leaves {
        t.push(leaf.clone());
    }
    t
}

fn ct_root(t: &CtTree) -> Hash {
    t.root().as_bytes().as_slice().try_into().unwrap()
}

fn ct_root_hash(root: &Hash, size: u64) -> RootHash<Sha256> {
    RootHash::new((*root).into(), size)
}

fn from_ct(proof: &[u8]) -> Vec<Hash> {
    assert_eq!(proof.len() % 32, 0);
    proof.chunks(32).map(|c| c.try_into().unwrap()).collect()
}

fn leaf_data() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn ct_merkle_same_roots_and_inclusion_proofs(
        leaves in prop::collection::vec(leaf_data(), 1..300),
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..6),
    ) {
        let mut ours = MemoryTree::new();
        let mut store = MapStore::default();
        let mut frontier = Frontier::new();
        let mut ct = CtTree::new();
        let mut roots = vec![ct_root(&ct)];
        prop_assert_eq!(roots[0], empty_root());
        for (i, leaf) in leaves.iter().enumerate() {
            ours.push(leaf);
            store.push(leaf_hash(leaf));
            frontier.push(leaf_hash(leaf));
            ct.push(leaf.clone());
            let n = i as u64 + 1;
            let root = ct_root(&ct);
            prop_assert_eq!(ours.root(n).unwrap(), root);
            prop_assert_eq!(tree_hash(n, &store).unwrap(), root);
            prop_assert_eq!(frontier.root(), root);
            roots.push(root);
        }
        for (s, i) in picks {
            let size = s.index(leaves.len()) + 1;
            let index = i.index(size);
            let (n, i) = (size as u64, index as u64);
            let theirs = from_ct(ct_tree(&leaves[..size]).prove_inclusion(index).as_bytes());
            let mine = prove_inclusion(i, n, &ours).unwrap();
            prop_assert_eq!(&mine, &theirs);
            prop_assert_eq!(&prove_inclusion(i, n, &store).unwrap(), &mine);
            // Each verifies the other's.
            let leaf = &leaves[index];
            prop_assert!(verify_inclusion(&leaf_hash(leaf), i, n, &theirs, &roots[size]).is_ok());
            let proof = InclusionProof::<Sha256>::try_from_bytes(mine.concat()).unwrap();
            prop_assert!(ct_root_hash(&roots[size], n).verify_inclusion(leaf, i, &proof).is_ok());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Every pair of sizes of one tree.
    #[test]
    fn ct_merkle_same_consistency_proofs_every_pair(leaves in prop::collection::vec(leaf_data(), 1..=70)) {
        let ours = tree_of(&leaves);
        let roots = roots_of(&ours);
        let mut ct = CtTree::new();
        for (k, leaf) in leaves.iter().enumerate() {
            ct.push(leaf.clone());
            let n = k + 1;
            prop_assert_eq!(ct_root(&ct), roots[n]);
            for m in 1..=n {
                let (m64, n64) = (m as u64, n as u64);
                let theirs = from_ct(ct.prove_consistency(n - m).as_bytes());
                let mine = prove_consistency(m64, n64, &ours).unwrap();
                prop_assert_eq!(&mine, &theirs, "{} -> {}", m, n);
                prop_assert!(consistency_ok(m64, n64, &roots[m], &roots[n], &theirs));
                let proof = ConsistencyProof::<Sha256>::try_from_bytes(mine.concat()).unwrap();
                let old = ct_root_hash(&roots[m], m64);
                prop_assert!(ct_root_hash(&roots[n], n64).verify_consistency(&old, &proof).is_ok());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random pairs of sizes in larger trees.
    #[test]
    fn ct_merkle_same_consistency_proofs_larger_trees(
        leaves in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..8), 70..1100),
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..5),
    ) {
        let ours = tree_of(&leaves);
        for (a, b) in picks {
            let n = a.index(leaves.len()) + 1;
            let m = b.index(n) + 1;
            let (m64, n64) = (m as u64, n as u64);
            let ct = ct_tree(&leaves[..n]);
            let (old, new) = (ours.root(m64).unwrap(), ours.root(n64).unwrap());
            prop_assert_eq!(ct_root(&ct), new);
            let theirs = from_ct(ct.prove_consistency(n - m).as_bytes());
            let mine = prove_consistency(m64, n64, &ours).unwrap();
            prop_assert_eq!(&mine, &theirs, "{} -> {}", m, n);
            prop_assert!(consistency_ok(m64, n64, &old, &new, &theirs));
            let proof = ConsistencyProof::<Sha256>::try_from_bytes(mine.concat()).unwrap();
            prop_assert!(ct_root_hash(&new, n64).verify_consistency(&ct_root_hash(&old, m64), &proof).is_ok());
        }
    }
}

// ---------------------------------------------------------------------------
// Every size up to 128

/// Leaf `i` is the byte `i`, as in the C++ CT tests' `data_`.
const EXHAUSTIVE: u64 = 128;

fn flip(proof: &[Hash], j: usize) -> Vec<Hash> {
    let mut p = proof.to_vec();
    p[j][(j * 7) % 32] ^= 1 << (j % 8);
    p
}

fn drop_at(proof: &[Hash], j: usize) -> Vec<Hash> {
    let mut p = proof.to_vec();
    p.remove(j);
    p
}

fn appended(proof: &[Hash], extra: Hash) -> Vec<Hash> {
    let mut p = proof.to_vec();
    p.push(extra);
    p
}

#[test]
fn exhaustive_consistency_every_pair_up_to_128() {
    let leaves: Vec<Vec<u8>> = (0..EXHAUSTIVE).map(|i| vec![i as u8]).collect();
    let t = tree_of(&leaves);
    let roots = roots_of(&t);
    let mut wrong = Vec::new();
    let w = &mut wrong;
    let mut shifted_accepted = 0usize;
    for n in 1..=EXHAUSTIVE {
        for m in 0..=n {
            let p = prove_consistency(m, n, &t).unwrap();
            let (old, new) = (&roots[m as usize], &roots[n as usize]);
            let ctx = format!("consistency {m} -> {n}");
            if !consistency_ok(m, n, old, new, &p) {
                w.push(format!("{ctx}: refused the good proof"));
                continue;
            }
            for j in 0..p.len() {
                let ok = consistency_ok(m, n, old, new, &flip(&p, j));
                refuse(w, &ctx, &format!("hash {j} flipped"), ok);
                let ok = consistency_ok(m, n, old, new, &drop_at(&p, j));
                refuse(w, &ctx, &format!("hash {j} dropped"), ok);
            }
            for extra in [*new, *old, empty_root()] {
                let ok = consistency_ok(m, n, old, new, &appended(&p, extra));
                refuse(w, &ctx, "a hash appended", ok);
            }
            let ok = consistency_ok(m + 1, n, old, new, &p);
            refuse(w, &ctx, "as size1 + 1", ok);
            if m == 0 {
                // (0, n) with no proof is accepted whatever both roots are,
                // by design: see POLICY. Nothing more to tamper with.
                continue;
            }
            // As (m, n + 1), a proof is refused by neither verifier when the
            // two sizes give it the same shape: the root it yields is still
            // that of n leaves, and only a signed checkpoint binds a root to
            // its size. Ours must judge it as ct-merkle does.
            let ours = consistency_ok(m, n + 1, old, new, &p);
            let proof = ConsistencyProof::<Sha256>::try_from_bytes(p.concat()).unwrap();
            let theirs = ct_root_hash(new, n + 1)
                .verify_consistency(&ct_root_hash(old, m), &proof)
                .is_ok();
            if ours != theirs {
                w.push(format!(
                    "{ctx}: as size2 + 1, ours {ours}, ct-merkle {theirs}"
                ));
            }
            shifted_accepted += usize::from(ours);
            let mut bad = *old;
            bad[31] ^= 0x80;
            let ok = consistency_ok(m, n, &bad, new, &p);
            refuse(w, &ctx, "old root flipped", ok);
            if m != n {
                let mut bad = *new;
                bad[0] ^= 1;
                let ok = consistency_ok(m, n, old, &bad, &p);
                refuse(w, &ctx, "new root flipped", ok);
            }
            w.extend(cpp_verifier_consistency_check(m, n, old, new, &p));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Most proofs keep their shape from n to n + 1 leaves (not where n + 1
    // starts a new level): RFC 9162's algorithm cannot tell those apart.
    assert!(shifted_accepted > 0);
}

#[test]
fn exhaustive_inclusion_every_leaf_up_to_128() {
    let leaves: Vec<Vec<u8>> = (0..EXHAUSTIVE).map(|i| vec![i as u8]).collect();
    let t = tree_of(&leaves);
    let roots = roots_of(&t);
    let mut wrong = Vec::new();
    let w = &mut wrong;
    for n in 1..=EXHAUSTIVE {
        let root = &roots[n as usize];
        for i in 0..n {
            let p = prove_inclusion(i, n, &t).unwrap();
            let leaf = leaf_hash(&leaves[i as usize]);
            let ctx = format!("inclusion {i} of {n}");
            // The good proof, and the C++ CT tamper checks.
            w.extend(cpp_verifier_check(i + 1, n, &p, root, &leaves[i as usize]));
            for j in 0..p.len() {
                let ok = inclusion_ok(&leaf, i, n, &flip(&p, j), root);
                refuse(w, &ctx, &format!("hash {j} flipped"), ok);
                let ok = inclusion_ok(&leaf, i, n, &drop_at(&p, j), root);
                refuse(w, &ctx, &format!("hash {j} dropped"), ok);
            }
            for extra in [*root, leaf, empty_root()] {
                let ok = inclusion_ok(&leaf, i, n, &appended(&p, extra), root);
                refuse(w, &ctx, "a hash appended", ok);
            }
            let ok = inclusion_ok(&leaf_hash(&leaf), i, n, &p, root);
            refuse(w, &ctx, "the leaf hash hashed again as a leaf", ok);
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
