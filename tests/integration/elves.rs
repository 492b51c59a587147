//! The example elves' task modules, for typed calls from the tests (each
//! file is included once, here).

#![allow(dead_code, unreachable_pub)]

#[path = "../../elves/printer/tasks.rs"]
pub(crate) mod printer;
#[path = "../../elves/sender/tasks.rs"]
pub(crate) mod sender;
#[path = "../../elves/trials/tasks.rs"]
pub(crate) mod trials;
#[path = "../../elves/trials/tasks_v2.rs"]
pub(crate) mod trials_v2;
