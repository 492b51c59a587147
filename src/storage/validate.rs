//! Checks every backend makes before it writes, so that bad input gets the
//! same error whatever the store.

use super::{Error, Result};
use crate::model::{Completion, JobSpec, TaskSha, TaskVersion};

/// Refuses task versions whose sha is not the sha256 of their source.
pub(crate) fn task_versions(versions: &[TaskVersion]) -> Result<()> {
    for v in versions {
        if TaskSha::of_source(&v.source) != v.sha {
            return Err(Error::invalid(
                format!("task version {}/{} ({})", v.elf, v.name, v.sha),
                "its sha is not the sha256 of its source",
                "compute the sha with TaskSha::of_source over the exact source text",
            ));
        }
    }
    Ok(())
}

/// Encodes a result, refusing one over the payload limit.
pub(crate) fn result_text(c: &Completion, max_payload: usize) -> Result<String> {
    let text = serde_json::to_string(&c.value).map_err(|e| Error::backend("encode a result", e))?;
    if text.len() > max_payload {
        return Err(Error::TooLarge {
            what: format!("the result of job {}", c.lease.job),
            size: text.len(),
            limit: max_payload,
        });
    }
    Ok(text)
}

/// Refuses elf and task names a binary could not declare; `what` names the job.
pub(crate) fn names(spec: &JobSpec, what: impl Fn() -> String) -> Result<()> {
    for (field, name) in [("elf", &spec.elf), ("task", &spec.task)] {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c)) {
            return Err(Error::invalid(
                what(),
                format!("{field} name `{name}` is empty or has characters other than letters, digits, _ - . :"),
                format!("name the {field} as its elf binary declares it"),
            ));
        }
    }
    Ok(())
}
