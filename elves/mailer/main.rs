//! The mailer elf, with lifecycle hooks and a supervised server.

use std::time::Duration;

fn main() -> std::process::ExitCode {
    use mycelium_elves::mailer::tasks::*;
    mycelium::elf::main(
        mycelium::elf::Elf::new(ELF)
            .task(&send_mail::TASK)
            .task(&push_android::TASK)
            .task(&push_ios::TASK)
            .task(&push_log::TASK)
            .task(&push_archive::TASK)
            .on_start("smtp", |_| async {
                println!("mailer: smtp pool open");
                Ok::<(), std::io::Error>(())
            })
            .server("queue-report", |mut h| async move {
                // Says how long the mail queue is, every 30 s, until stopped.
                loop {
                    tokio::select! {
                        _ = h.stopping() => return Ok::<(), std::io::Error>(()),
                        _ = tokio::time::sleep(Duration::from_secs(30)) => {
                            if let Ok(q) = h.store().queue("mailer") {
                                println!("mailer: {} waiting, {} dead", q.waiting, q.dead);
                            }
                        }
                    }
                }
            })
            .on_stop("smtp", |_| async {
                println!("mailer: smtp pool closed");
                Ok::<(), std::io::Error>(())
            }),
    )
}
