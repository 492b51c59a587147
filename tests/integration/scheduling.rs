//! The claim order with real processes: a small run submitted while a big
//! one is being worked gets its share at once, and finishes long before the
//! big one.

use std::time::{Duration, Instant};

use mycelium::model::{JobSpec, RunSpec, RunState, Submission};
use mycelium::storage::Store;
use serde_json::json;

use crate::util::{Proc, fresh_sqlite};

fn values(name: &str, n: u64) -> Submission {
    Submission { run: RunSpec::named(name), jobs: (0..n).map(|i| JobSpec::new("bench", "value", json!([i]))).collect() }
}

#[test]
fn a_small_run_behind_a_big_one_finishes_long_before_it() {
    let (url, _dir) = fresh_sqlite();
    let store = Store::open(&url).expect("open");
    let _coordinator = Proc::coordinator(&url);
    let _elves = [Proc::elf("bench", &url, &["--slots", "8"]), Proc::elf("bench", &url, &["--slots", "8"])];
    let big = store.submit(&values("big", 20_000)).expect("submit the big run").run;
    // Wait until the big run is being worked.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = store.run(big).expect("read").expect("exists");
        if r.open <= 20_000 - 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the big run did not start: {r:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let t0 = Instant::now();
    let small = store.submit(&values("small", 10)).expect("submit the small run").run;
    let small_done = loop {
        let r = store.run(small).expect("read").expect("exists");
        if r.state.is_final() {
            assert_eq!(r.state, RunState::Succeeded, "{r:?}");
            break t0.elapsed();
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "the small run did not finish: {r:?}");
        std::thread::sleep(Duration::from_millis(1));
    };
    let b = store.run(big).expect("read").expect("exists");
    assert_eq!(b.state, RunState::Running, "the big run finished first: {b:?}");
    assert!(
        b.open >= 10_000,
        "the small run ended in {small_done:?} but the big run had only {} of 20,000 jobs left by then",
        b.open
    );
    assert!(small_done < Duration::from_secs(5), "the small run took {small_done:?}");
    eprintln!("small run: {small_done:?}; the big run had {} jobs left", b.open);
}
