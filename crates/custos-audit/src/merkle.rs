//! RFC 9162 (Certificate Transparency 2.0) §2.1 Merkle tree hashes, inclusion
//! proofs and consistency proofs over a list of leaf hashes.
//!
//! Leaves are already hashed: `leaf_hash(d) = SHA-256(0x00 || d)`;
//! interior nodes are `SHA-256(0x01 || left || right)` (§2.1.1).

use sha2::{Digest, Sha256};

use crate::{AuditError, Hash};

/// §2.1.1: the leaf hash `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// §2.1.1: an interior node `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (`n > 1`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// §2.1.1: `MTH(D[n])` of the leaf hashes; the empty tree hashes to
/// `SHA-256()`.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => Sha256::digest([]).into(),
        [one] => *one,
        _ => {
            let (l, r) = leaves.split_at(split(leaves.len()));
            node_hash(&root(l), &root(r))
        }
    }
}

/// §2.1.3.1: the inclusion proof `PATH(m, D[n])` of leaf `m`.
pub fn inclusion_proof(m: usize, leaves: &[Hash]) -> Result<Vec<Hash>, AuditError> {
    if m >= leaves.len() {
        return Err(AuditError::Proof("leaf index outside the tree"));
    }
    let mut out = Vec::new();
    path(m, leaves, &mut out);
    Ok(out)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    if d.len() <= 1 {
        return;
    }
    let k = split(d.len());
    let (l, r) = d.split_at(k);
    // PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) for m < k,
    //                 PATH(m - k, D[k:n]) : MTH(D[0:k]) for m >= k.
    if m < k {
        path(m, l, out);
        out.push(root(r));
    } else {
        path(m - k, r, out);
        out.push(root(l));
    }
}

/// §2.1.3.2: verifies that `leaf` is entry `index` of the tree of `size`
/// leaves with `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), AuditError> {
    // 1. If leaf_index >= tree_size, fail.
    if index >= size {
        return Err(AuditError::Proof("leaf index outside the tree"));
    }
    // 2. fn = leaf_index, sn = tree_size - 1, r = hash.
    let (mut fn_, mut sn, mut r) = (index, size - 1, *leaf);
    // 3. For each p in the path:
    for p in proof {
        // a. If sn is 0, stop and fail.
        if sn == 0 {
            return Err(AuditError::Proof("inclusion proof too long"));
        }
        // b. If LSB(fn) is set, or fn equals sn: r = HASH(0x01 || p || r);
        //    then, if LSB(fn) is not set, right-shift fn and sn equally
        //    until LSB(fn) is set or fn is 0.
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            // Otherwise r = HASH(0x01 || r || p).
            r = node_hash(&r, p);
        }
        // c. Right-shift both fn and sn by one.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 4. Compare sn to 0 and r to the root.
    if sn == 0 && r == *root {
        Ok(())
    } else {
        Err(AuditError::Proof("inclusion proof does not verify"))
    }
}

/// §2.1.4.1: the consistency proof `PROOF(m, D[n])` between the first `m`
/// leaves and all of them (`0 < m <= n`).
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Result<Vec<Hash>, AuditError> {
    if m == 0 || m > leaves.len() {
        return Err(AuditError::Proof("sizes out of range"));
    }
    let mut out = Vec::new();
    subproof(m, leaves, true, &mut out);
    Ok(out)
}

fn subproof(m: usize, d: &[Hash], b: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    // SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}.
    if m == n {
        if !b {
            out.push(root(d));
        }
        return;
    }
    let k = split(n);
    let (l, r) = d.split_at(k);
    if m <= k {
        // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
        subproof(m, l, b, out);
        out.push(root(r));
    } else {
        // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
        subproof(m - k, r, false, out);
        out.push(root(l));
    }
}

/// §2.1.4.2: verifies that the tree of `size2` leaves with `root2` extends
/// the tree of `size1` leaves with `root1`.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Result<(), AuditError> {
    let fail = |why| Err(AuditError::Proof(why));
    // Equal sizes: the proof is empty and the roots are equal.
    if size1 == size2 {
        return if proof.is_empty() && root1 == root2 {
            Ok(())
        } else {
            fail("same size, different root")
        };
    }
    if size1 == 0 || size1 > size2 {
        return fail("sizes out of range");
    }
    // 1. If first_hash_size is an exact power of 2, prepend first_hash.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    // 2. fn = first_hash_size - 1, sn = second_hash_size - 1.
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    // 3. If LSB(fn) is set, right-shift fn and sn equally until it is not.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 4. fr = sr = the first value in the path.
    let mut iter = path.iter();
    let Some(first) = iter.next() else {
        return fail("empty consistency proof");
    };
    let (mut fr, mut sr) = (*first, *first);
    // 5. For each subsequent value c in the path:
    for c in iter {
        // a. If sn is 0, stop and fail.
        if sn == 0 {
            return fail("consistency proof too long");
        }
        // b. If LSB(fn) is set, or fn equals sn:
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            // then, if LSB(fn) is not set, right-shift fn and sn equally
            // until either LSB(fn) is set or fn is 0.
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            // Otherwise: sr = HASH(0x01 || sr || c).
            sr = node_hash(&sr, c);
        }
        // c. Right-shift both fn and sn one time.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 6. fr equals first_hash, sr equals second_hash, and sn is 0.
    if fr == *root1 && sr == *root2 && sn == 0 {
        Ok(())
    } else {
        fail("consistency proof does not verify")
    }
}

/// The right edge of a tree: the roots of its perfect subtrees, largest
/// first (one per set bit of the size). Appending a leaf and computing the
/// root take O(log n), so a witness that sees every entry can recompute a
/// checkpoint's root without holding the whole log.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        // Each trailing one bit of the old size is a peak of equal height
        // that merges with the new node.
        let mut size = self.size;
        while size & 1 == 1 {
            let Some(left) = self.peaks.pop() else { break };
            node = node_hash(&left, &node);
            size >>= 1;
        }
        self.peaks.push(node);
        self.size = self.size.saturating_add(1);
    }

    /// §2.1.1 `MTH` of the leaves so far: the peaks folded from the right.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return Sha256::digest([]).into();
        };
        peaks.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// Whether the peaks fit the size (for frontiers read back from storage).
    pub fn is_well_formed(&self) -> bool {
        self.peaks.len() == self.size.count_ones() as usize
    }
}

#[cfg(test)]
mod frontier_tests {
    use super::*;

    #[test]
    fn frontier_root_matches_the_tree_at_every_size() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut f = Frontier::new();
        assert_eq!(f.root(), root(&[]));
        for (i, leaf) in leaves.iter().enumerate() {
            f.push(*leaf);
            assert!(f.is_well_formed());
            assert_eq!(f.size(), i as u64 + 1);
            assert_eq!(f.root(), root(&leaves[..=i]), "size {}", i + 1);
        }
    }
}
