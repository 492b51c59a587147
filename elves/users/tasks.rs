//! The users elf: welcomes new users, asks how many comments a commenter
//! wrote (RPC), chats every 15 s, and mails a report every minute.

use mycelium::agent::Context;

use crate::service::signals::{CountComments, MAILER, Mail, UserComment, UserCreated};

/// This module's tasks belong to the elf `users`.
pub const ELF: &str = "users";

/// Queues a welcome mail for every new user.
#[mycelium::task(receives = [UserCreated], retries = 3, backoff_ms = 100)]
pub async fn welcome(cx: &Context, user: UserCreated) -> Result<(), mycelium::agent::Error> {
    let mail = Mail { to: user.email, subject: "Welcome!".into(), body: format!("Hello, user {}.", user.user_id) };
    cx.send(&MAILER, &mail).await?;
    Ok(())
}

/// On every comment, asks the comment counters (RPC) how many comments its
/// author has written, and says what each answered.
#[mycelium::task(receives = [UserComment])]
pub async fn comment_seen(cx: &Context, comment: UserComment) -> Result<u64, mycelium::agent::Error> {
    let got = cx.call(&CountComments { user_id: comment.user_id })?.timeout(std::time::Duration::from_secs(3)).await?;
    for a in &got.answers {
        println!("users: user {} has {} comment(s), says {}/{}", comment.user_id, a.value, a.elf, a.task);
    }
    Ok(got.answers.iter().map(|a| a.value).max().unwrap_or(0))
}

/// Every 15 s (the first 3 s after the elf first registered), user 1 says
/// something.
#[mycelium::task(every = "15s", start_after = "3s")]
pub async fn chatter(cx: &Context) -> Result<(), mycelium::agent::Error> {
    let tick = cx.tick().unwrap_or_default();
    cx.emit(&UserComment { user_id: 1, text: format!("still here at {tick}") }).await?;
    Ok(())
}

/// Every minute, mails a report.
#[mycelium::task(cron = "* * * * *", overlap = "skip")]
pub async fn report(cx: &Context) -> Result<(), mycelium::agent::Error> {
    let tick = cx.tick().unwrap_or_default();
    let body = format!("report for the minute starting at {tick} ms");
    cx.send(&MAILER, &Mail { to: "ops@example.org".into(), subject: "Report".into(), body }).await?;
    Ok(())
}
