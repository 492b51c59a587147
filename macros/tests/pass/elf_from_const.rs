//! Without `elf = ...`, the task's elf is the `ELF` const of its module.

mod animals {
    pub const ELF: &str = "animals";

    /// A private type: the generated module sees it through `use super::*`.
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct Kind(pub String);

    #[mycelium_macros::task]
    pub fn name(kind: self::Kind) -> String {
        kind.0
    }

    /// `ELF` through a glob import.
    pub mod glob {
        pub use super::*;

        #[mycelium_macros::task]
        pub fn same(n: u32) -> u32 {
            n
        }
    }

    /// `ELF` through a named import.
    pub mod named {
        use super::ELF;

        #[mycelium_macros::task]
        pub fn same(n: u32) -> Result<u32, mycelium::Fatal> {
            if n == 0 { Err(mycelium::Fatal::msg("zero")) } else { Ok(n) }
        }
    }

    pub mod deeper {
        pub const ELF: &str = "deeper";

        #[mycelium_macros::task]
        pub(crate) fn rename(kind: super::Kind) -> super::Kind {
            kind
        }
    }
}

fn main() {
    assert_eq!(animals::name::INFO.elf, "animals");
    assert_eq!(animals::name::INFO.params, &[("kind", "self::Kind")]);
    assert_eq!(animals::deeper::rename::INFO.elf, "deeper");
    assert_eq!(animals::glob::same::INFO.elf, "animals");
    assert_eq!(animals::named::same::INFO.elf, "animals");
    assert_eq!(animals::deeper::rename::INFO.output, "super::Kind");
    let _: mycelium::Call<String> = animals::name::call(animals::Kind("cat".into()));
    let _ = animals::deeper::rename::call(animals::Kind("cat".into()));
}
