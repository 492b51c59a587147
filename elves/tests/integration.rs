//! Each elf binary serves what it should: its `tasks` subcommand lists
//! exactly the tasks, then the flows, of the library's modules it is built
//! from, with the versions, files and lines the library records.
//!
//! Building this test builds the package's binaries, which mycelium's own
//! integration tests start (`cargo test --workspace`).

use std::process::Command;

use mycelium::task::TaskInfo;
use mycelium_elves::{agents, animals, bench, comments, etl, flows, http, mailer, printer, report, sender};
use mycelium_elves::{stats, storage, trials, users};

/// What `elf-.. tasks` prints for the elf `elf` serving `tasks` and `flows`.
fn listing(elf: &str, tasks: &[&TaskInfo], flows: &[&TaskInfo]) -> Vec<String> {
    let line = |i: &TaskInfo| format!("{elf}/{} {} {}:{}", i.name, i.sha().short(), i.file, i.line);
    tasks.iter().map(|i| line(i)).chain(flows.iter().map(|i| format!("{} (flow)", line(i)))).collect()
}

/// What the binary `exe` says it serves.
fn served(exe: &str) -> Vec<String> {
    let out = Command::new(exe).arg("tasks").output().unwrap_or_else(|e| panic!("cannot run {exe}: {e}"));
    assert!(out.status.success(), "{exe} tasks: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn every_elf_binary_serves_the_tasks_and_flows_of_its_modules() {
    use agents::tasks as ag;
    use bench::tasks as be;
    use flows::flows as fl;
    use flows::tasks as ft;
    use mailer::tasks as ma;
    use trials::tasks as tr;
    use users::tasks as us;
    let elves: Vec<(&str, Vec<String>)> = vec![
        (
            env!("CARGO_BIN_EXE_elf-sender"),
            listing(
                "sender",
                &[&sender::tasks::send::INFO, &sender::tasks::slow::INFO, &sender::tasks::shout::INFO],
                &[],
            ),
        ),
        (
            env!("CARGO_BIN_EXE_elf-printer"),
            listing("printer", &[&printer::tasks::print_it::INFO, &printer::tasks::print_all::INFO], &[]),
        ),
        (env!("CARGO_BIN_EXE_elf-animals"), listing("animals", &[&animals::tasks::draw::INFO], &[])),
        (env!("CARGO_BIN_EXE_elf-storage"), listing("storage", &[&storage::tasks::save::INFO], &[])),
        (env!("CARGO_BIN_EXE_elf-stats-mean"), listing("stats-mean", &[&stats::tasks::mean::INFO], &[])),
        (env!("CARGO_BIN_EXE_elf-stats-min"), listing("stats-min", &[&stats::tasks::minimum::INFO], &[])),
        (env!("CARGO_BIN_EXE_elf-stats-max"), listing("stats-max", &[&stats::tasks::maximum::INFO], &[])),
        (env!("CARGO_BIN_EXE_elf-report"), listing("report", &[&report::tasks::report::INFO], &[])),
        (
            env!("CARGO_BIN_EXE_elf-bench"),
            listing(
                "bench",
                &[
                    &be::value::INFO,
                    &be::add1::INFO,
                    &be::source::INFO,
                    &be::map::INFO,
                    &be::reduce::INFO,
                    &be::recv_a::INFO,
                    &be::recv_b::INFO,
                    &be::consume::INFO,
                    &be::nap::INFO,
                    &be::nap_after::INFO,
                ],
                &[&bench::flows::chain::INFO, &bench::flows::fan::INFO, &bench::flows::one::INFO],
            ),
        ),
        (
            env!("CARGO_BIN_EXE_elf-trials"),
            listing(
                "trials",
                &[
                    &tr::pick::INFO,
                    &tr::parse_setting::INFO,
                    &tr::flaky::INFO,
                    &tr::refuse::INFO,
                    &tr::read_number::INFO,
                    &tr::sum_file::INFO,
                    &tr::check_age::INFO,
                    &tr::halve_later::INFO,
                    &tr::nap::INFO,
                    &tr::greet::INFO,
                    &tr::crash::INFO,
                ],
                &[],
            ),
        ),
        (env!("CARGO_BIN_EXE_elf-trials-v2"), listing("trials", &[&trials::tasks_v2::greet::INFO], &[])),
        (
            env!("CARGO_BIN_EXE_elf-users"),
            listing(
                "users",
                &[&us::welcome::INFO, &us::comment_seen::INFO, &us::chatter::INFO, &us::report::INFO],
                &[],
            ),
        ),
        (
            env!("CARGO_BIN_EXE_elf-comments"),
            listing("comments", &[&comments::tasks::record_comment::INFO, &comments::tasks::comments_count::INFO], &[]),
        ),
        (
            env!("CARGO_BIN_EXE_elf-mailer"),
            listing(
                "mailer",
                &[
                    &ma::send_mail::INFO,
                    &ma::push_android::INFO,
                    &ma::push_ios::INFO,
                    &ma::push_log::INFO,
                    &ma::push_archive::INFO,
                ],
                &[],
            ),
        ),
        (
            env!("CARGO_BIN_EXE_elf-agents-a"),
            listing(
                "agents-a",
                &[
                    &ag::ping_a::INFO,
                    &ag::answer_a::INFO,
                    &ag::flaky::INFO,
                    &ag::doomed::INFO,
                    &ag::work::INFO,
                    &ag::t_ios::INFO,
                    &ag::t_msg::INFO,
                    &ag::f_one::INFO,
                    &ag::f_two::INFO,
                ],
                &[],
            ),
        ),
        (
            env!("CARGO_BIN_EXE_elf-agents-b"),
            listing("agents-b", &[&ag::ping_b::INFO, &ag::answer_b::INFO, &ag::ask_then_wait::INFO], &[]),
        ),
        (env!("CARGO_BIN_EXE_elf-agents-clock"), listing("agents-clock", &[&ag::beat::INFO], &[])),
        (
            env!("CARGO_BIN_EXE_elf-flows"),
            listing(
                "flows",
                &[],
                &[
                    &fl::chain::INFO,
                    &fl::create_then_poll::INFO,
                    &fl::approval::INFO,
                    &fl::fan::INFO,
                    &fl::greeter::INFO,
                    &fl::ordered::INFO,
                    &fl::narcissus::INFO,
                    &fl::sleepy::INFO,
                ],
            ),
        ),
        (
            env!("CARGO_BIN_EXE_elf-flow-tasks"),
            listing(
                "flowtasks",
                &[&ft::step::INFO, &ft::ext_create::INFO, &ft::ext_status::INFO, &ft::square::INFO, &ft::nap::INFO],
                &[],
            ),
        ),
        (env!("CARGO_BIN_EXE_elf-flows-v2"), listing("flows", &[], &[&flows::flows_v2::ordered::INFO])),
        (
            env!("CARGO_BIN_EXE_elf-etl"),
            listing(
                "etl",
                &[&etl::tasks::list_files::INFO, &etl::tasks::count_rows::INFO, &etl::tasks::publish::INFO],
                &[&etl::flows::nightly::INFO],
            ),
        ),
        (env!("CARGO_BIN_EXE_elf-http"), listing("http", &[&http::tasks::request::INFO], &[])),
    ];
    for (exe, expected) in &elves {
        assert_eq!(&served(exe), expected, "{exe} tasks");
    }
    // The two versions of a task or flow differ, as the tests of versions
    // need them to.
    assert_ne!(tr::greet::INFO.sha(), trials::tasks_v2::greet::INFO.sha());
    assert_ne!(fl::ordered::INFO.sha(), flows::flows_v2::ordered::INFO.sha());
}
