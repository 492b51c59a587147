//! The storage elf: keeps every animal drawn so far.

use serde::{Deserialize, Serialize};

use crate::animals::tasks::Animal;

/// This module's tasks belong to the elf `storage`.
pub const ELF: &str = "storage";

/// Every animal saved up to some round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    /// The last round saved.
    pub round: u32,
    /// Every animal saved so far, oldest first.
    pub animals: Vec<Animal>,
}

/// Saves `animal` drawn in `round` after everything saved before it, and
/// appends it to `$ANIMALS_FILE` (default `animals.jsonl`) when that is set.
#[mycelium::task]
pub fn save(round: u32, animal: Animal, before: Option<Saved>) -> Result<Saved, std::io::Error> {
    if let Ok(path) = std::env::var("ANIMALS_FILE") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(f, "{}", serde_json::json!({ "round": round, "species": animal.species, "weight": animal.weight }))?;
    }
    let mut animals = before.map(|b| b.animals).unwrap_or_default();
    animals.push(animal);
    Ok(Saved { round, animals })
}
