//! Identifiers of the documents in the mycelium.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let digits = s.strip_prefix($prefix).unwrap_or(s);
                digits.parse::<i64>().ok().filter(|n| *n > 0).map($name).ok_or_else(|| {
                    format!(
                        "`{s}` is not a {} id: expected a positive integer such as 42 or {}42",
                        stringify!($name),
                        $prefix
                    )
                })
            }
        }
    };
}

int_id!(
    /// A job: one task call in a run. Assigned by the store, increasing.
    JobId,
    "j"
);
int_id!(
    /// A run (an orchestration): the jobs one submission created.
    RunId,
    "r"
);
int_id!(
    /// One failed attempt of a job.
    FailureId,
    "f"
);

/// A running elf instance (one process): 64 random bits in 11 letters and
/// digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct InstanceId(pub String);

impl InstanceId {
    /// A fresh random instance id.
    pub fn random() -> Self {
        // 64 random bits in 11 letters and digits: a repeat is about a 1 in
        // 100 million chance after 600,000 instances, and the id is 25
        // bytes shorter than a UUID's text in every job row that names its
        // holder (a claim that writes fewer bytes splits fewer pages).
        const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut n: u64 = rand::random();
        let mut id = String::with_capacity(11);
        for _ in 0..11 {
            id.push(char::from(DIGITS[(n % 62) as usize]));
            n /= 62;
        }
        Self(id)
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A task version: the sha256 of the exact source text of the task, as 64
/// lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct TaskSha(String);

impl TaskSha {
    /// The version of `source`: sha256 of its bytes.
    pub fn of_source(source: &str) -> Self {
        let digest = Sha256::digest(source.as_bytes());
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push_str(&format!("{byte:02x}"));
        }
        Self(hex)
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 digits, enough to name a version to a person.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl TryFrom<String> for TaskSha {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s))
        } else {
            Err(format!("`{s}` is not a task version: expected 64 lowercase hex digits (a sha256)"))
        }
    }
}

impl From<TaskSha> for String {
    fn from(s: TaskSha) -> String {
        s.0
    }
}

impl fmt::Display for TaskSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_of_source_is_sha256_hex() {
        let sha = TaskSha::of_source("abc");
        assert_eq!(sha.as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sha.short(), "ba7816bf8f01");
    }

    #[test]
    fn malformed_sha_is_rejected_with_the_input() {
        let err = TaskSha::try_from("xyz".to_owned()).unwrap_err();
        assert!(err.contains("`xyz`"), "{err}");
    }

    #[test]
    fn instance_ids_are_eleven_letters_and_digits_and_differ() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| InstanceId::random().0).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|i| i.len() == 11 && i.bytes().all(|b| b.is_ascii_alphanumeric())), "{ids:?}");
    }

    #[test]
    fn ids_parse_with_or_without_prefix() {
        assert_eq!("j42".parse::<JobId>(), Ok(JobId(42)));
        assert_eq!("42".parse::<JobId>(), Ok(JobId(42)));
        assert!("0".parse::<RunId>().is_err());
        assert!("x".parse::<RunId>().unwrap_err().contains("`x`"));
    }
}
