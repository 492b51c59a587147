//! A service on agents, modelled on MicroAgent's example: users sign up
//! (signal `user_created`: the users elf queues a welcome mail), they comment
//! (signal `user_comment`: the comments elf records it, the users elf asks
//! every comment counter how many the author has, by RPC), pushes go through
//! a topic exchange and a fanout one, a mail to a bad address ends dead, and
//! a cron task mails a report every minute.
//!
//! Start the service (`mycelium launch examples/service.toml`), then
//! `cargo run --example service` with `MYCELIUM_URL` naming its store.

use std::time::Duration;

use mycelium_elves::service::signals::{CountComments, MAILER, Mail, Push, UserComment, UserCreated};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("MYCELIUM_URL").unwrap_or_else(|_| mycelium::storage::DEFAULT_URL.to_owned());
    let myc = mycelium::connect(&url)?;

    for (user_id, email) in [(1, "ada@example.org"), (2, "grace@example.org")] {
        let e = myc.emit(&UserCreated { user_id, email: email.into() }).await?;
        let to: Vec<String> = e.deliveries.iter().map(|d| format!("{}/{}", d.elf, d.task)).collect();
        println!("user_created {user_id}: delivered to {}", to.join(", "));
    }
    for text in ["first!", "nice post", "see you"] {
        myc.emit(&UserComment { user_id: 1, text: text.into() }).await?;
    }
    // Let the comments be recorded, then ask every counter (RPC).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = myc.call(&CountComments { user_id: 1 }).timeout(Duration::from_secs(2)).await?;
    for a in &got.answers {
        let instance: String = a.instance.as_ref().map(|i| i.0.chars().take(8).collect()).unwrap_or_default();
        println!(
            "rpc_comments_count: {}/{} on instance {instance} says user 1 has {} comment(s)",
            a.elf, a.task, a.value
        );
    }

    // Routed by exchanges: a topic one (push3) and a fanout one (push).
    for key in ["user.ios", "user.android", "user.web"] {
        let sent = myc.publish("push3", key, &Push { user_id: 1, text: format!("hello on {key}") }).await?;
        let to: Vec<&str> = sent.messages.iter().map(|(q, _)| q.as_str()).collect();
        println!("push3 {key}: routed to {}", if to.is_empty() { "no queue".to_owned() } else { to.join(", ") });
    }
    let sent = myc.publish("push", "", &Push { user_id: 0, text: "maintenance at 02:00".into() }).await?;
    let to: Vec<&str> = sent.messages.iter().map(|(q, _)| q.as_str()).collect();
    println!("push (fanout): routed to {}", to.join(", "));

    // A mail that bounces: three attempts, then dead.
    let bad = Mail { to: "nobody@nowhere.invalid".into(), subject: "Hi".into(), body: "?".into() };
    let sent = myc.send(&MAILER, &bad).await?;
    let job = sent.messages[0].1;
    let store = myc.store();
    for _ in 0..100 {
        if store.job(job)?.is_some_and(|j| j.state.is_final()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let q = store.queue("mailer")?;
    println!(
        "mailer queue: {} waiting, {} in flight, {} dead (job {job}: see `mycelium queue dead mailer`)",
        q.waiting, q.in_flight, q.dead
    );
    Ok(())
}
