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
    assert_eq!(animals::deeper::rename::INFO.output, "super::Kind");
    let _: mycelium::Call<String> = animals::name::call(animals::Kind("cat".into()));
    let _ = animals::deeper::rename::call(animals::Kind("cat".into()));
}
