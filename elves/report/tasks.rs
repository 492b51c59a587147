//! The report elf: prints one line per round.

use serde::{Deserialize, Serialize};

use crate::storage::tasks::Saved;

/// This module's tasks belong to the elf `report`.
pub const ELF: &str = "report";

/// One round's statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// The round.
    pub round: u32,
    /// Animals saved so far.
    pub count: usize,
    /// Mean weight.
    pub mean: f64,
    /// Lightest.
    pub min: f64,
    /// Heaviest.
    pub max: f64,
}

/// Prints the statistics of `round` and returns them.
#[mycelium::task]
pub fn report(round: u32, saved: Saved, mean: f64, min: f64, max: f64) -> Line {
    let count = saved.animals.len();
    println!("report: round {round:>2}: {count:>2} animals, mean {mean:>7.2} kg, min {min:>7.2} kg, max {max:>7.2} kg");
    Line { round, count, mean, min, max }
}
