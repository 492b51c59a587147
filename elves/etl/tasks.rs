//! The nightly ETL's tasks (elf `etl`): find the files of the day, count
//! their lines, publish a report. Each is ordinary, idempotent work.

use std::path::Path;

/// This module's tasks belong to the elf `etl`.
pub const ELF: &str = "etl";

/// The `.csv` files in `dir`, by name (known only when the flow runs).
#[mycelium::task]
pub fn list_files(dir: String) -> Result<Vec<String>, std::io::Error> {
    let mut files: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    Ok(files)
}

/// The lines of one file, its header excepted.
#[mycelium::task]
pub fn count_rows(path: String) -> Result<u64, std::io::Error> {
    let text = std::fs::read_to_string(&path)?;
    Ok(text.lines().count().saturating_sub(1) as u64)
}

/// Writes the report `report.txt` into `dir` (the same content every time:
/// publishing twice is harmless); returns its path.
#[mycelium::task]
pub fn publish(dir: String, files: u64, rows: u64, approved_by: String) -> Result<String, std::io::Error> {
    let path = Path::new(&dir).join("report.txt");
    std::fs::write(&path, format!("{files} files, {rows} rows, approved by {approved_by}\n"))?;
    Ok(path.display().to_string())
}
