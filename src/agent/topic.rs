//! Topic patterns of exchanges, with AMQP's semantics: a routing key is a
//! list of words separated by dots; in a binding pattern `*` stands for
//! exactly one word and `#` for zero or more words (`*.ios` matches
//! `user.ios`, not `ios` nor `a.b.ios`; `msg.#` matches `msg`, `msg.a` and
//! `msg.a.b`).

/// Whether `key` (a routing key) matches `pattern` (a binding pattern).
pub fn matches(pattern: &str, key: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = if key.is_empty() { Vec::new() } else { key.split('.').collect() };
    words(&p, &k)
}

fn words(p: &[&str], k: &[&str]) -> bool {
    match p.split_first() {
        None => k.is_empty(),
        Some((&"#", rest)) => {
            // `#` takes zero words, or one and stays.
            words(rest, k) || (!k.is_empty() && words(p, &k[1..]))
        }
        Some((&"*", rest)) => !k.is_empty() && words(rest, &k[1..]),
        Some((w, rest)) => k.first().is_some_and(|first| first == w) && words(rest, &k[1..]),
    }
}

/// Checks a binding pattern: dot-separated words of letters, digits, `_` and
/// `-`, or the wildcards `*` and `#` alone.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("a topic pattern cannot be empty (use `#` to match every routing key)".into());
    }
    for w in pattern.split('.') {
        let ok = w == "*"
            || w == "#"
            || (!w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        if !ok {
            return Err(format!(
                "`{pattern}` has the word `{w}`: a pattern's words are letters, digits, _ and -, or `*` (one word) or `#` (any number of words) alone"
            ));
        }
    }
    Ok(())
}

/// Checks a routing key: dot-separated words of letters, digits, `_` and `-`
/// (or nothing: a fanout exchange needs no key).
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Ok(());
    }
    for w in key.split('.') {
        if w.is_empty() || !w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(format!(
                "routing key `{key}` has the word `{w}`: a routing key is words of letters, digits, _ and - separated by dots (no wildcards)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amqp_topic_semantics() {
        for (pattern, key, want) in [
            ("*.ios", "user.ios", true),
            ("*.ios", "ios", false),
            ("*.ios", "a.b.ios", false),
            ("*.ios", "user.android", false),
            ("msg.#", "msg", true),
            ("msg.#", "msg.a", true),
            ("msg.#", "msg.a.b", true),
            ("msg.#", "message.a", false),
            ("#", "", true),
            ("#", "anything.at.all", true),
            ("#.error", "error", true),
            ("#.error", "app.db.error", true),
            ("#.error", "app.error.db", false),
            ("a.*.c", "a.b.c", true),
            ("a.*.c", "a.c", false),
            ("a.#.c", "a.c", true),
            ("a.#.c", "a.x.y.c", true),
            ("*.*", "a.b", true),
            ("*.*", "a", false),
            ("user.created", "user.created", true),
            ("user.created", "user.deleted", false),
        ] {
            assert_eq!(matches(pattern, key), want, "{pattern} vs {key}");
        }
    }

    #[test]
    fn bad_patterns_and_keys_say_why() {
        assert!(check_pattern("*.ios").is_ok() && check_pattern("msg.#").is_ok());
        assert!(check_pattern("").unwrap_err().contains("`#`"));
        assert!(check_pattern("a..b").unwrap_err().contains("word ``"));
        assert!(check_pattern("a.b*").unwrap_err().contains("`b*`"));
        assert!(check_key("user.ios").is_ok());
        assert!(check_key("user.*").unwrap_err().contains("no wildcards"));
    }
}
