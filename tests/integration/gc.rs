//! `mycelium gc` on a real SQLite store: finished runs go with their jobs,
//! results and events, the file gives the space back, open runs stay, and
//! bad input changes nothing.

use std::process::{Command, Output};

use mycelium::model::{Completion, InstanceId, JobSpec, RunSpec, Submission};
use mycelium::storage::{ClaimRequest, Store};
use serde_json::{Value, json};

use crate::util::{MYCELIUM, fresh_sqlite};

fn myc(url: &str, args: &[&str]) -> Output {
    Command::new(MYCELIUM).arg("--store").arg(url).args(args).env_remove("MYCELIUM_URL").output().expect("run mycelium")
}

fn text(o: &Output) -> String {
    format!("status {}\n{}{}", o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Submits `runs` runs of `jobs` jobs with 2 KB arguments each and runs them
/// all to success.
fn finished_runs(s: &Store, runs: usize, jobs: usize) {
    let pad = "x".repeat(2048);
    let me = InstanceId::random();
    let tasks = vec!["t".to_owned()];
    for r in 0..runs {
        let specs: Vec<JobSpec> = (0..jobs).map(|i| JobSpec::new("gc", "t", json!([r, i, pad]))).collect();
        s.submit(&Submission { run: RunSpec::named("gc"), jobs: specs }).expect("submit");
        loop {
            let claimed = s
                .claim(&ClaimRequest { instance: &me, elf: "gc", tasks: &tasks, max: 512, ttl_ms: 60_000 })
                .expect("claim");
            if claimed.is_empty() {
                break;
            }
            let done: Vec<Completion> = claimed
                .iter()
                .map(|c| Completion { lease: c.lease, ran_sha: None, value: json!(pad.clone()) })
                .collect();
            s.complete(&done).expect("complete");
        }
    }
    s.checkpoint().expect("checkpoint");
}

#[test]
fn gc_deletes_finished_runs_and_the_file_shrinks() {
    let (url, dir) = fresh_sqlite();
    let path = dir.path().join("mycelium.db");
    let s = Store::open(&url).expect("open");
    finished_runs(&s, 20, 200);
    let open = s
        .submit(&Submission { run: RunSpec::named("open"), jobs: vec![JobSpec::new("gc", "t", json!([0]))] })
        .expect("submit");
    let size = || std::fs::metadata(&path).expect("size").len();
    let before = size();
    assert!(before > 8 << 20, "the store holds the runs ({before} bytes)");

    // Bad input names itself and changes nothing.
    for bad in [vec!["gc", "--older-than", "7x"], vec!["gc", "--older-than", "-1d"], vec!["gc"]] {
        let o = myc(&url, &bad);
        assert!(!o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("--older-than"), "the error names the flag: {}", text(&o));
    }
    assert_eq!(s.runs(&Default::default()).expect("runs").len(), 21);

    // Too recent: nothing goes. A dry run says what would.
    let o = myc(&url, &["gc", "--older-than", "1d"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("deleted 0 run(s)"), "{}", text(&o));
    let o = myc(&url, &["--json", "gc", "--older-than", "0s", "--dry-run"]);
    let dry: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(dry["deleted"]["runs"], 20, "{dry}");
    assert_eq!(dry["deleted"]["jobs"], 4000, "{dry}");
    assert_eq!(s.runs(&Default::default()).expect("runs").len(), 21, "a dry run deletes nothing");

    let o = myc(&url, &["--json", "gc", "--older-than", "0s"]);
    assert!(o.status.success(), "{}", text(&o));
    let got: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(got["deleted"]["runs"], 20, "{got}");
    assert_eq!(got["deleted"]["jobs"], 4000, "{got}");
    assert_eq!(got["deleted"]["results"], 4000, "{got}");
    assert_eq!(got["reclaimed"]["reclaimed"], "bytes", "{got}");
    let freed = got["reclaimed"]["bytes"].as_u64().expect("bytes");
    let after = size();
    assert!(after < before / 4, "the file shrank from {before} to {after} bytes ({freed} freed)");
    // The open run is whole.
    let left = s.runs(&Default::default()).expect("runs");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, open.run);
    assert!(s.job(open.jobs[0]).expect("job").is_some());

    // A full vacuum works too, and the store still serves.
    let o = myc(&url, &["gc", "--older-than", "0s", "--vacuum"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(s.runs(&Default::default()).expect("runs").len(), 1);
}
