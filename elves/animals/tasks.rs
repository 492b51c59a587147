//! The animals elf: draws a species and a weight.

use serde::{Deserialize, Serialize};

/// This module's tasks belong to the elf `animals`.
pub const ELF: &str = "animals";

/// One animal drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Animal {
    /// Its species.
    pub species: String,
    /// Its weight in kilograms.
    pub weight: f64,
}

/// Draws an animal for `round`: the same round always draws the same animal,
/// so that a retried or replayed job gives the same answer.
#[mycelium::task]
pub fn draw(round: u32) -> Animal {
    const SPECIES: [(&str, f64); 5] =
        [("capybara", 50.0), ("wombat", 30.0), ("axolotl", 0.2), ("okapi", 250.0), ("pangolin", 12.0)];
    let mut x = u64::from(round).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 29;
    let (species, base) = SPECIES[(x % SPECIES.len() as u64) as usize];
    let jitter = ((x >> 8) % 1000) as f64 / 1000.0;
    Animal { species: species.to_owned(), weight: (base * (0.75 + jitter / 2.0) * 100.0).round() / 100.0 }
}
