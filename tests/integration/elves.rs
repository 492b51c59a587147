//! The example elves' task modules, for typed calls from the tests (each
//! file is included once, here).

#![allow(dead_code, unreachable_pub)]

#[path = "../../elves/agents/tasks.rs"]
pub(crate) mod agents;
#[path = "../../elves/bench/tasks.rs"]
pub(crate) mod bench;
#[path = "../../elves/printer/tasks.rs"]
pub(crate) mod printer;
#[path = "../../elves/sender/tasks.rs"]
pub(crate) mod sender;
#[path = "../../elves/trials/tasks.rs"]
pub(crate) mod trials;
#[path = "../../elves/trials/tasks_v2.rs"]
pub(crate) mod trials_v2;

// The flow tests' elves: tasks (`flowtasks`, named `tasks` because the
// flows refer to them as `super::tasks`), flows (`flows`) and version 2 of
// one flow.
#[path = "../../elves/flows/flows.rs"]
pub(crate) mod flows;
#[path = "../../elves/flows/flows_v2.rs"]
pub(crate) mod flows_v2;
#[path = "../../elves/flows/tasks.rs"]
pub(crate) mod tasks;
