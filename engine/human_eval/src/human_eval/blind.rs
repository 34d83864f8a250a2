//! Blinding: each reviewer gets the items in an order of their own, and each
//! item's two answers as "A" and "B" in a random order per reviewer and per
//! item, so that neither position nor sequence gives a model away. Both are
//! drawn from a seed made of the evaluation's seed and the reviewer's name
//! (SHA-256, stable across versions and machines), so a reviewer who stops
//! and comes back, or rates on another machine, sees the same order.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};
use sha2::{Digest, Sha256};

/// A random generator for `reviewer` in the evaluation seeded `seed`, and a purpose.
fn rng(seed: u64, reviewer: &str, purpose: &str, item: usize) -> StdRng {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(reviewer.trim().to_lowercase().as_bytes());
    h.update([0]);
    h.update(purpose.as_bytes());
    h.update(item.to_le_bytes());
    StdRng::from_seed(h.finalize().into())
}

/// The order in which `reviewer` sees the items `0..items`.
pub fn order(seed: u64, reviewer: &str, items: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..items).collect();
    v.shuffle(&mut rng(seed, reviewer, "order", 0));
    v
}

/// Whether `reviewer` sees the first model's answer of `item` as "A" (else as "B").
pub fn first_is_a(seed: u64, reviewer: &str, item: usize) -> bool {
    rng(seed, reviewer, "sides", item).random_bool(0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_sides_vary_by_reviewer_and_item_and_repeat_for_the_same_reviewer() {
        let (a, b) = (order(7, "Ana", 40), order(7, "Ben", 40));
        assert_ne!(a, b, "two reviewers got the same order");
        assert_eq!(a, order(7, " ana ", 40), "the same reviewer (name as typed) gets the same order");
        assert_ne!(a, order(8, "Ana", 40), "another evaluation's seed gives another order");
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..40).collect::<Vec<_>>(), "every item exactly once");
        let sides: Vec<bool> = (0..200).map(|i| first_is_a(7, "Ana", i)).collect();
        let firsts = sides.iter().filter(|s| **s).count();
        assert!((70..130).contains(&firsts), "the first model is A for {firsts} of 200 items");
        let other: Vec<bool> = (0..200).map(|i| first_is_a(7, "Ben", i)).collect();
        assert_ne!(sides, other, "two reviewers see the same sides");
        assert_eq!(sides, (0..200).map(|i| first_is_a(7, "Ana", i)).collect::<Vec<_>>());
    }
}
