//! The embedded mycelium: one SQLite file shared by every process on one
//! machine.
//!
//! WAL mode; every write is `BEGIN IMMEDIATE` behind a writer gate (an
//! `flock` on a file beside the store) so that competing processes queue in
//! the kernel instead of starving in SQLite's sleeping busy handler; hot paths
//! write in batches; checkpoints run off the hot path.
//!
//! URL: `sqlite://path` (relative to the working directory) or
//! `sqlite:///absolute/path`, with optional `?synchronous=normal|full` and
//! `?max_payload=<bytes>`.

mod agents;
mod flows;
mod gate;
mod open;
mod read;
mod retention;
mod rows;
mod schema;
mod sql;
mod write;

use std::path::PathBuf;

use super::registry::{OpenMode, Registration, bad_url};
use super::seam::Backend;
use super::{Limits, Result};
pub(crate) use open::{Options, SqliteBackend, Synchronous};

pub(crate) const REGISTRATION: Registration = Registration {
    schemes: &["sqlite"],
    example: "sqlite://path/to/store.db",
    open,
    check: |url| parse(url).map(drop),
};

fn open(url: &str, mode: OpenMode) -> Result<Box<dyn Backend>> {
    let (path, options) = parse(url)?;
    Ok(Box::new(SqliteBackend::open(&path, options, mode)?))
}

/// Parses a `sqlite:` URL into the file and the options.
pub(crate) fn parse(url: &str) -> Result<(PathBuf, Options)> {
    let rest = url.strip_prefix("sqlite:").ok_or_else(|| bad_url(url, "it is not a sqlite: URL"))?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(bad_url(url, "it names no file"));
    }
    let mut options = Options::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("synchronous", v)) if v.eq_ignore_ascii_case("normal") => options.synchronous = Synchronous::Normal,
            Some(("synchronous", v)) if v.eq_ignore_ascii_case("full") => options.synchronous = Synchronous::Full,
            Some(("max_payload", v)) => {
                options.limits =
                    Limits {
                        max_payload: v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                            bad_url(url, &format!("max_payload `{v}` is not a positive number of bytes"))
                        })?,
                    };
            }
            _ => {
                return Err(bad_url(
                    url,
                    &format!("unknown option `{pair}` (known: synchronous=normal|full, max_payload=<bytes>)"),
                ));
            }
        }
    }
    Ok((PathBuf::from(path), options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_options() {
        let (path, o) = parse("sqlite:///tmp/a.db?synchronous=full&max_payload=10").expect("valid");
        assert_eq!((path, o.synchronous, o.limits.max_payload), ("/tmp/a.db".into(), Synchronous::Full, 10));
        let (path, o) = parse("sqlite://rel/a.db").expect("valid");
        assert_eq!((path, o.synchronous, o.limits.max_payload), ("rel/a.db".into(), Synchronous::Normal, 16 << 20));
    }

    #[test]
    fn bad_urls_name_the_problem() {
        for (url, needle) in [
            ("sqlite://", "names no file"),
            ("sqlite://a.db?x=1", "unknown option `x=1`"),
            ("sqlite://a.db?max_payload=-1", "max_payload `-1`"),
        ] {
            let err = parse(url).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(needle) && err.contains(url), "{url}: {err}");
        }
    }

    /// The default retry policy is stored as nothing (it is most jobs',
    /// and half a job row's bytes otherwise); any other as its JSON; both
    /// read back as submitted.
    #[test]
    fn the_default_retry_policy_takes_no_bytes_and_others_read_back() {
        use crate::model::{Backoff, JobSpec, RetryPolicy, RunSpec, Submission};
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("s.db");
        let store = crate::storage::Store::open(&format!("sqlite://{}", path.display())).expect("a store");
        let plain = JobSpec::new("e", "t", serde_json::json!([1]));
        let mut retried = JobSpec::new("e", "t", serde_json::json!([2]));
        retried.retry =
            RetryPolicy { max_attempts: 4, backoff: Backoff::Fixed { delay_ms: 10 }, ..RetryPolicy::default() };
        let submitted = store
            .submit(&Submission { run: RunSpec::named("r"), jobs: vec![plain, retried.clone()] })
            .expect("submitted");
        let conn = rusqlite::Connection::open(&path).expect("the file");
        let stored: Vec<String> = conn
            .prepare("SELECT retry FROM jobs ORDER BY id")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("the retry column");
        assert_eq!(stored[0], rows::DEFAULT_RETRY);
        assert_eq!(serde_json::from_str::<RetryPolicy>(&stored[1]).expect("JSON"), retried.retry);
        let jobs: Vec<_> = submitted.jobs.iter().map(|id| store.job(*id).expect("read").expect("a job")).collect();
        assert_eq!((&jobs[0].retry, &jobs[1].retry), (&RetryPolicy::default(), &retried.retry));
    }

    /// A handle's own commits leave its `others_change_counter` as it was
    /// (while its `change_counter` moves); another handle's commit moves
    /// both, so an elf whose claim found too little claims again only for
    /// someone else's commit.
    #[test]
    fn the_others_change_counter_moves_for_other_handles_commits_only() {
        use crate::model::{JobSpec, RunSpec, Submission};
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let (me, other) =
            (crate::storage::Store::open(&url).expect("a store"), crate::storage::Store::open(&url).expect("a store"));
        let submit = |s: &crate::storage::Store| {
            let jobs = vec![JobSpec::new("e", "t", serde_json::json!([1]))];
            s.submit(&Submission { run: RunSpec::named("r"), jobs }).expect("submitted");
        };
        let (others, all) = (me.others_change_counter().expect("read"), me.change_counter().expect("read"));
        submit(&me);
        assert_eq!(me.others_change_counter().expect("read"), others, "moved for the handle's own commit");
        assert_ne!(me.change_counter().expect("read"), all, "the change counter counts every commit");
        submit(&other);
        assert_ne!(me.others_change_counter().expect("read"), others, "missed another handle's commit");
    }
}
