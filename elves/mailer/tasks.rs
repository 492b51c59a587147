//! The mailer elf: consumes the `mailer` queue, and the push queues bound
//! to two exchanges (`push3`, a topic exchange; `push`, a fanout one).

use crate::service::signals::{Mail, Push};

/// This module's tasks belong to the elf `mailer`.
pub const ELF: &str = "mailer";

/// Sends a mail (here: prints it). Addresses at `invalid` bounce: after
/// three attempts the message is dead, for `mycelium queue dead mailer`.
#[mycelium::task(consumes = "mailer", retries = 3, backoff_ms = 200, backoff_factor = 2.0)]
pub fn send_mail(mail: Mail) -> Result<String, String> {
    if mail.to.ends_with(".invalid") {
        return Err(format!("{} bounced: no such domain", mail.to));
    }
    println!("mailer: to {} | {} | {}", mail.to, mail.subject, mail.body);
    Ok(format!("sent to {}", mail.to))
}

/// Pushes to Android devices (`push3`, routing keys `*.android`).
#[mycelium::task(consumes = "push_android", exchange = "push3", topics = ["*.android"])]
pub fn push_android(push: Push) -> String {
    println!("mailer: android push to user {}: {}", push.user_id, push.text);
    format!("android:{}", push.user_id)
}

/// Pushes to iOS devices (`push3`, routing keys `*.ios`).
#[mycelium::task(consumes = "push_ios", exchange = "push3", topics = ["*.ios"])]
pub fn push_ios(push: Push) -> String {
    println!("mailer: ios push to user {}: {}", push.user_id, push.text);
    format!("ios:{}", push.user_id)
}

/// Logs every broadcast (`push`, fanout).
#[mycelium::task(consumes = "push_log", exchange = "push")]
pub fn push_log(push: Push) -> String {
    println!("mailer: broadcast logged: {}", push.text);
    format!("log:{}", push.user_id)
}

/// Archives every broadcast (`push`, fanout).
#[mycelium::task(consumes = "push_archive", exchange = "push")]
pub fn push_archive(push: Push) -> String {
    format!("archive:{}", push.user_id)
}
