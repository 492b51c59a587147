//! The names the mycelium stores and shows for its enums, from one source
//! of truth: each enum derives its names with strum (`snake_case`), serde
//! uses the same rule, and a test checks that the two agree.

/// An enum whose variants have stored names.
pub(crate) trait Named: Sized + Copy + 'static + strum::VariantArray + Into<&'static str> {
    /// What one value is called in messages ("job state").
    const WHAT: &'static str;
}

/// Parses a stored name, or says which names exist.
pub(crate) fn parse<T: Named>(s: &str) -> Result<T, String> {
    T::VARIANTS.iter().copied().find(|v| Into::<&'static str>::into(*v) == s).ok_or_else(|| {
        let names: Vec<&'static str> = T::VARIANTS.iter().map(|v| (*v).into()).collect();
        format!("`{s}` is not a {}: expected one of {}", T::WHAT, names.join(", "))
    })
}

/// Implements `as_str`, `ALL`, `FromStr` and `Display` for a [`Named`] enum.
macro_rules! named {
    ($ty:ty, $what:literal) => {
        impl $crate::model::names::Named for $ty {
            const WHAT: &'static str = $what;
        }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = <$ty as strum::VariantArray>::VARIANTS;

            /// The name stored and shown.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $crate::model::names::parse(s)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use named;

/// Checks that serde and strum name every variant alike.
#[cfg(test)]
pub(crate) fn assert_serde_agrees<T: Named + serde::Serialize + std::str::FromStr<Err = String>>() {
    for v in T::VARIANTS {
        let name: &'static str = (*v).into();
        assert_eq!(serde_json::to_value(v).ok(), Some(serde_json::Value::from(name)), "{}", T::WHAT);
        assert!(T::from_str(name).is_ok());
    }
    let err = T::from_str("no-such-name").err().unwrap_or_default();
    assert!(err.contains(T::WHAT) && err.contains("expected one of"), "{err}");
}

#[cfg(test)]
mod tests {
    use super::assert_serde_agrees;
    use crate::model::{ElfState, EventKind, FailureKind, JobState, RunState};

    #[test]
    fn serde_and_the_stored_names_agree() {
        assert_serde_agrees::<JobState>();
        assert_serde_agrees::<RunState>();
        assert_serde_agrees::<FailureKind>();
        assert_serde_agrees::<EventKind>();
        assert_serde_agrees::<ElfState>();
    }
}
