//! The statistics elves: three elves, one statistic each.

use crate::storage::tasks::Saved;

/// The mean weight of everything saved.
#[mycelium::task(elf = "stats-mean")]
pub fn mean(saved: Saved) -> f64 {
    let n = saved.animals.len().max(1) as f64;
    saved.animals.iter().map(|a| a.weight).sum::<f64>() / n
}

/// The lightest weight saved.
#[mycelium::task(elf = "stats-min")]
pub fn minimum(saved: Saved) -> f64 {
    saved.animals.iter().map(|a| a.weight).fold(f64::INFINITY, f64::min)
}

/// The heaviest weight saved.
#[mycelium::task(elf = "stats-max")]
pub fn maximum(saved: Saved) -> f64 {
    saved.animals.iter().map(|a| a.weight).fold(f64::NEG_INFINITY, f64::max)
}
