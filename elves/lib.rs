//! The example elves of mycelium, as a library: each elf's tasks (and its
//! flows and signals) are a module here, shared by the elf's binary
//! (`elf-<name>`, beside the module in the elf's folder), by the drivers in
//! `examples/` and by mycelium's integration tests, which call them through
//! their typed stubs:
//!
//! ```
//! use mycelium_elves::sender;
//!
//! // A call of the task `sender/send`, for an orchestration (`o.call(..)`).
//! let call = sender::tasks::send::call("hello".to_owned()).key("greeting");
//! assert_eq!(sender::tasks::send::INFO.elf, "sender");
//! # let _ = call;
//! ```
//!
//! A module's `ELF` constant names the elf that serves its tasks; the
//! binary registers them: `elves/animals/main.rs` serves
//! [`animals::tasks::draw()`] as the elf `animals`.

pub mod agents {
    //! The agents' test elves (`elf-agents-a`, `elf-agents-b`,
    //! `elf-agents-clock`): receivers, responders, queue consumers, a clock.
    pub mod tasks;
}

pub mod animals {
    //! The animals elf (`elf-animals`): the first step of the demo pipeline.
    pub mod tasks;
}

pub mod bench {
    //! The benchmark elf (`elf-bench`): the workloads of `mycelium bench`.
    pub mod flows;
    pub mod tasks;
}

pub mod comments {
    //! The comments elf of the example service (`elf-comments`).
    pub mod tasks;
}

pub mod etl {
    //! The nightly ETL elf (`elf-etl`): its tasks and its durable flow.
    pub mod flows;
    pub mod tasks;
}

pub mod flows {
    //! The flow tests' elves: the flows (`elf-flows`), the tasks they call
    //! (`elf-flow-tasks`), and version 2 of one flow (`elf-flows-v2`).
    #[allow(clippy::module_inception, reason = "the elf `flows`'s flows, beside its tasks")]
    pub mod flows;
    pub mod flows_v2;
    pub mod tasks;
}

pub mod http {
    //! The built-in `http` elf (`elf-http`): outbound HTTP requests as tasks.
    pub mod tasks;
}

pub mod mailer {
    //! The mailer elf of the example service (`elf-mailer`).
    pub mod tasks;
}

pub mod printer {
    //! The printer elf (`elf-printer`).
    pub mod tasks;
}

pub mod report {
    //! The report elf (`elf-report`): the last step of the demo pipeline.
    pub mod tasks;
}

pub mod sender {
    //! The sender elf (`elf-sender`).
    pub mod tasks;
}

pub mod service {
    //! The example service's signals, messages and queues, shared by its
    //! elves (users, comments, mailer) and its driver (`examples/service.rs`).
    pub mod signals;
}

pub mod stats {
    //! The statistics elves of the demo pipeline (`elf-stats-mean`,
    //! `elf-stats-min`, `elf-stats-max`).
    pub mod tasks;
}

pub mod storage {
    //! The storage elf (`elf-storage`): keeps the animals drawn.
    pub mod tasks;
}

pub mod trials {
    //! The trials elf (`elf-trials`): tasks that fail in every way a task
    //! can; `tasks_v2` is `elf-trials-v2`, a second version of one task.
    pub mod tasks;
    pub mod tasks_v2;
}

pub mod users {
    //! The users elf of the example service (`elf-users`).
    pub mod tasks;
}
