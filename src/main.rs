//! The `mycelium` command: coordinator, inspection and operations. Its
//! implementation lives in the library, private to it (it shares the store's
//! internals); this binary only runs it.

fn main() -> std::process::ExitCode {
    mycelium::__private::command_main()
}
