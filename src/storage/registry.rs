//! Backends by URL scheme. Adding a backend is one folder under `storage/`
//! and one line in [`REGISTRY`]; nothing else names it.

use super::seam::Backend;
use super::{Error, Result};

/// Whether opening may create a store that does not exist yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the store when it does not exist (elves, the coordinator,
    /// drivers: the processes that write).
    Create,
    /// Refuse a store that does not exist, saying how to create one
    /// (inspection commands: a typo must not create an empty store).
    Existing,
}

/// One backend's entry: the schemes it answers to and how to open it.
pub(crate) struct Registration {
    /// URL schemes, without the colon.
    pub(crate) schemes: &'static [&'static str],
    /// What a URL of this backend looks like, for error messages.
    pub(crate) example: &'static str,
    /// Opens a store of this backend.
    pub(crate) open: fn(url: &str, mode: OpenMode) -> Result<Box<dyn Backend>>,
    /// Checks a URL of this backend without opening anything.
    pub(crate) check: fn(url: &str) -> Result<()>,
}

/// Every backend compiled in.
const REGISTRY: &[Registration] = &[
    super::sqlite::REGISTRATION,
    super::memory::REGISTRATION,
    #[cfg(feature = "arangodb")]
    super::arango::REGISTRATION,
];

/// The backend `url` names.
fn registration(url: &str) -> Result<&'static Registration> {
    let Some((scheme, _)) = url.split_once(':') else {
        return Err(bad_url(url, "it has no scheme"));
    };
    REGISTRY
        .iter()
        .find(|r| r.schemes.contains(&scheme))
        .ok_or_else(|| bad_url(url, &format!("unknown scheme `{scheme}` (this build knows {})", known())))
}

/// Opens the backend `url` names.
pub(crate) fn open_backend(url: &str, mode: OpenMode) -> Result<Box<dyn Backend>> {
    (registration(url)?.open)(url, mode)
}

/// Checks that `url` names a store this build can open, without opening it
/// (for checking configuration files).
pub fn check_url(url: &str) -> Result<()> {
    (registration(url)?.check)(url)
}

/// The schemes this build knows, with an example URL each.
fn known() -> String {
    let mut out: Vec<String> = Vec::new();
    for r in REGISTRY {
        out.push(format!("{}: ({})", r.schemes.join(":, "), r.example));
    }
    out.join("; ")
}

/// A `BadUrl` error that never shows a password.
pub(crate) fn bad_url(url: &str, problem: &str) -> Error {
    Error::BadUrl { url: redact(url), problem: problem.to_owned() }
}

/// `url` with any password in its user information replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_passwords_only() {
        assert_eq!(redact("ftp://u:hunter2@h/x"), "ftp://u:***@h/x");
        assert_eq!(redact("arangodb://root:p@ss@host:8529/db"), "arangodb://root:***@host:8529/db");
        assert_eq!(redact("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
        assert_eq!(redact("http://user@h/"), "http://user@h/");
    }

    #[test]
    fn unknown_schemes_list_the_known_ones() {
        let err = open_backend("ftp://u:hunter2@h/x", OpenMode::Create).expect_err("unknown").to_string();
        assert!(err.contains("unknown scheme `ftp`") && err.contains("sqlite") && err.contains("memory"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = open_backend("nope", OpenMode::Create).expect_err("no scheme").to_string();
        assert!(err.contains("no scheme"), "{err}");
    }
}
