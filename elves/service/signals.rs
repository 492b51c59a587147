//! The signals, messages and queues of the example service (users, comments
//! and a mailer), shared by its elves and its drivers.

use mycelium::agent::{Queue, Request, Signal};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A user signed up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserCreated {
    /// The new user.
    pub user_id: u64,
    /// Where to write to them.
    pub email: String,
}

impl Signal for UserCreated {
    const NAME: &'static str = "user_created";
}

/// A user wrote a comment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserComment {
    /// The author.
    pub user_id: u64,
    /// What they wrote.
    pub text: String,
}

impl Signal for UserComment {
    const NAME: &'static str = "user_comment";
}

/// How many comments has a user written? (RPC: each receiver answers.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CountComments {
    /// The user.
    pub user_id: u64,
}

impl Signal for CountComments {
    const NAME: &'static str = "rpc_comments_count";
}

impl Request for CountComments {
    type Reply = u64;
}

/// A mail to send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Mail {
    /// The address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The text.
    pub body: String,
}

/// The mailer's queue.
pub const MAILER: Queue<Mail> = Queue::named("mailer");

/// A push notification, routed by exchanges.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Push {
    /// To whom.
    pub user_id: u64,
    /// What.
    pub text: String,
}
