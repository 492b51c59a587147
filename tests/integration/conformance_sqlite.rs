//! The storage conformance suite, stamped out for SQLite.

use crate::util::{MYCELIUM, fresh_sqlite};

mycelium::conformance_suite!(fresh_sqlite(), MYCELIUM);

/// The same suite with a small payload limit, so C14 runs fast too.
mod small_payload {
    use crate::util::MYCELIUM;

    fn fresh() -> (String, tempfile::TempDir) {
        let (url, dir) = crate::util::fresh_sqlite();
        (format!("{url}?max_payload=65536"), dir)
    }

    #[test]
    fn c14_payload_limits_small() {
        let (url, _dir) = fresh();
        mycelium::storage::conformance::c14_payload_limits(&url);
    }

    #[test]
    fn url_options_reach_other_processes() {
        let (url, _dir) = fresh();
        mycelium::storage::conformance::c03_exclusive_claim_across_processes(&url, std::path::Path::new(MYCELIUM));
    }
}
