//! `elf-agents-a`: receivers, a responder, the test queues, and lifecycle
//! hooks that say when they run.

fn main() -> std::process::ExitCode {
    use mycelium_elves::agents::tasks::*;
    mycelium::elf::main(
        mycelium::elf::Elf::new("agents-a")
            .task(&ping_a::TASK)
            .task(&answer_a::TASK)
            .task(&flaky::TASK)
            .task(&doomed::TASK)
            .task(&work::TASK)
            .task(&t_ios::TASK)
            .task(&t_msg::TASK)
            .task(&f_one::TASK)
            .task(&f_two::TASK)
            .on_start("hello", |h| async move {
                println!("agents-a: on-start hook ran (instance {})", h.instance());
                Ok::<(), std::io::Error>(())
            })
            .on_stop("goodbye", |h| async move {
                println!("agents-a: on-stop hook ran (instance {})", h.instance());
                Ok::<(), std::io::Error>(())
            }),
    )
}
