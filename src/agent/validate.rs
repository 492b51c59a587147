//! Checking a payload against the JSON Schema of its type, at the sender.
//!
//! The schemas are the ones `schemars` writes for serde types (draft
//! 2020-12), so this checks the keywords those use, and says what is wrong in
//! terms of the payload's fields: `type`, `enum`, `const`, `properties`,
//! `required`, `additionalProperties`, `items`, `prefixItems`, `minItems`,
//! `maxItems`, `minLength`, `maxLength`, `minimum`, `maximum`,
//! `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`, the integer
//! `format`s (`uint8` .. `int64`), `anyOf`, `oneOf`, `allOf`, `not`, and local
//! `$ref`s (`#/$defs/..`). Other keywords (`pattern`, string `format`s) are
//! not checked. A full validator (the `jsonschema` crate) would pull some
//! thirty crates into every elf and driver for keywords serde types never
//! produce; the tests check this one against it.

use serde_json::{Map, Value};

/// Why a payload does not match its schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Where, as a path into the payload (`user.emails[2]`; empty for the
    /// payload itself).
    pub path: String,
    /// What is wrong there.
    pub problem: String,
}

impl Mismatch {
    /// `field `user.id`` or `the payload`.
    pub fn place(&self) -> String {
        if self.path.is_empty() { "the payload".to_owned() } else { format!("field `{}`", self.path) }
    }
}

/// Checks `value` against `schema`; the first mismatch found, if any.
pub fn check(schema: &Value, value: &Value) -> Result<(), Mismatch> {
    let mut v = Validator { root: schema, depth: 0 };
    v.check(schema, value, "")
}

struct Validator<'a> {
    root: &'a Value,
    depth: u32,
}

/// How deep `$ref`s may nest (a recursive type with a cyclic value would
/// otherwise never end; JSON values are finite, so this only guards bugs).
const MAX_DEPTH: u32 = 256;

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn shown(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 { format!("{}…", text.chars().take(39).collect::<String>()) } else { text }
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => match v {
            Value::Number(n) => n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
            _ => false,
        },
        _ => true,
    }
}

fn type_name(ty: &str) -> &str {
    match ty {
        "null" => "null",
        "boolean" => "a boolean",
        "object" => "an object",
        "array" => "a list",
        "string" => "a string",
        "number" => "a number",
        "integer" => "an integer",
        other => other,
    }
}

fn push_field(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
}

/// The range of an integer `format`.
fn format_range(format: &str) -> Option<(i128, i128)> {
    Some(match format {
        "uint8" => (0, u8::MAX.into()),
        "uint16" => (0, u16::MAX.into()),
        "uint32" | "uint" => (0, u32::MAX.into()),
        "uint64" => (0, u64::MAX.into()),
        "int8" => (i8::MIN.into(), i8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX.into()),
        "int32" | "int" => (i32::MIN.into(), i32::MAX.into()),
        "int64" => (i64::MIN.into(), i64::MAX.into()),
        _ => return None,
    })
}

impl<'a> Validator<'a> {
    fn fail<T>(&self, path: &str, problem: String) -> Result<T, Mismatch> {
        Err(Mismatch { path: path.to_owned(), problem })
    }

    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        let root: &'a Value = self.root;
        root.pointer(pointer)
    }

    fn check(&mut self, schema: &Value, v: &Value, path: &str) -> Result<(), Mismatch> {
        let s = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => return self.fail(path, format!("no value is allowed here (got {})", shown(v))),
            Value::Object(s) => s,
            _ => return Ok(()),
        };
        if let Some(Value::String(r)) = s.get("$ref") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return self.fail(path, "the schema's references nest too deeply".into());
            }
            let target = match self.resolve(r) {
                Some(t) => t,
                None => return self.fail(path, format!("the schema refers to `{r}`, which it does not define")),
            };
            let out = self.check(target, v, path);
            self.depth -= 1;
            out?;
        }
        self.check_type(s, v, path)?;
        if let Some(c) = s.get("const")
            && c != v
        {
            return self.fail(path, format!("must be {}, got {}", shown(c), shown(v)));
        }
        if let Some(Value::Array(options)) = s.get("enum")
            && !options.contains(v)
        {
            let names: Vec<String> = options.iter().map(shown).collect();
            return self.fail(path, format!("must be one of {}, got {}", names.join(", "), shown(v)));
        }
        self.check_number(s, v, path)?;
        self.check_string(s, v, path)?;
        if let Value::Object(m) = v {
            self.check_object(s, m, path)?;
        }
        if let Value::Array(items) = v {
            self.check_array(s, items, path)?;
        }
        self.check_combinators(s, v, path)
    }

    fn check_type(&self, s: &Map<String, Value>, v: &Value, path: &str) -> Result<(), Mismatch> {
        let types: Vec<&str> = match s.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Ok(()),
        };
        if types.iter().any(|t| type_matches(t, v)) {
            return Ok(());
        }
        let want: Vec<&str> = types.iter().map(|t| type_name(t)).collect();
        let want =
            if want.len() == 2 && want[1] == "null" { format!("{} or null", want[0]) } else { want.join(" or ") };
        self.fail(path, format!("expected {want}, got {} {}", kind(v), shown(v)))
    }

    fn check_number(&self, s: &Map<String, Value>, v: &Value, path: &str) -> Result<(), Mismatch> {
        let Value::Number(n) = v else { return Ok(()) };
        let f = n.as_f64().unwrap_or(0.0);
        if let Some(Value::String(format)) = s.get("format")
            && let Some((lo, hi)) = format_range(format)
        {
            let as_int = n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
            match as_int {
                Some(i) if i >= lo && i <= hi => {}
                Some(i) => return self.fail(path, format!("{i} does not fit a {format} ({lo} to {hi})")),
                None => return self.fail(path, format!("expected a whole number ({format}), got {n}")),
            }
        }
        let bound = |key: &str| s.get(key).and_then(Value::as_f64);
        if let Some(m) = bound("minimum")
            && f < m
        {
            return self.fail(path, format!("{n} is below the minimum {m}"));
        }
        if let Some(m) = bound("maximum")
            && f > m
        {
            return self.fail(path, format!("{n} is above the maximum {m}"));
        }
        if let Some(m) = bound("exclusiveMinimum")
            && f <= m
        {
            return self.fail(path, format!("{n} must be above {m}"));
        }
        if let Some(m) = bound("exclusiveMaximum")
            && f >= m
        {
            return self.fail(path, format!("{n} must be below {m}"));
        }
        if let Some(m) = bound("multipleOf")
            && m > 0.0
            && (f / m).fract() != 0.0
        {
            return self.fail(path, format!("{n} is not a multiple of {m}"));
        }
        Ok(())
    }

    fn check_string(&self, s: &Map<String, Value>, v: &Value, path: &str) -> Result<(), Mismatch> {
        let Value::String(text) = v else { return Ok(()) };
        let len = text.chars().count() as u64;
        if let Some(min) = s.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            return self.fail(path, format!("is {len} characters long, shorter than {min}"));
        }
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            return self.fail(path, format!("is {len} characters long, longer than {max}"));
        }
        Ok(())
    }

    fn check_object(&mut self, s: &Map<String, Value>, m: &Map<String, Value>, path: &str) -> Result<(), Mismatch> {
        let props = s.get("properties").and_then(Value::as_object);
        for (key, value) in m {
            let sub = props.and_then(|p| p.get(key));
            let at = push_field(path, key);
            match (sub, s.get("additionalProperties")) {
                (Some(sub), _) => self.check(sub, value, &at)?,
                (None, Some(Value::Bool(false))) => {
                    let known: Vec<&str> = props.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                    return Err(Mismatch {
                        path: at,
                        problem: format!("is not a field of this type (its fields: {})", known.join(", ")),
                    });
                }
                (None, Some(extra @ Value::Object(_))) => self.check(extra, value, &at)?,
                (None, _) => {}
            }
        }
        // After the fields present: a tagged form's tag (`const`) speaks
        // before the fields it would need.
        if let Some(Value::Array(required)) = s.get("required") {
            for r in required.iter().filter_map(Value::as_str) {
                if !m.contains_key(r) {
                    let at = push_field(path, r);
                    return Err(Mismatch { path: at, problem: "is missing (it is required)".into() });
                }
            }
        }
        Ok(())
    }

    fn check_array(&mut self, s: &Map<String, Value>, items: &[Value], path: &str) -> Result<(), Mismatch> {
        let n = items.len() as u64;
        if let Some(min) = s.get("minItems").and_then(Value::as_u64)
            && n < min
        {
            return self.fail(path, format!("has {n} item(s), fewer than {min}"));
        }
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
            && n > max
        {
            return self.fail(path, format!("has {n} item(s), more than {max}"));
        }
        let prefix = s.get("prefixItems").and_then(Value::as_array);
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}[{i}]");
            match prefix.and_then(|p| p.get(i)) {
                Some(sub) => self.check(sub, item, &at)?,
                None => {
                    if let Some(sub) = s.get("items") {
                        self.check(sub, item, &at)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn check_combinators(&mut self, s: &Map<String, Value>, v: &Value, path: &str) -> Result<(), Mismatch> {
        if let Some(Value::Array(all)) = s.get("allOf") {
            for sub in all {
                self.check(sub, v, path)?;
            }
        }
        for key in ["anyOf", "oneOf"] {
            let Some(Value::Array(options)) = s.get(key) else { continue };
            let mut passed = 0usize;
            let mut best: Option<(bool, Mismatch)> = None;
            for sub in options {
                match self.check(sub, v, path) {
                    Ok(()) => passed += 1,
                    Err(e) => {
                        // A form whose tag (`const`, `enum`) did not match is
                        // not the one meant; among the others, the deepest
                        // mismatch is the most telling.
                        let tag = e.problem.starts_with("must be");
                        let better = match &best {
                            None => true,
                            Some((best_tag, b)) => {
                                (*best_tag && !tag) || (*best_tag == tag && e.path.len() > b.path.len())
                            }
                        };
                        if better {
                            best = Some((tag, e));
                        }
                    }
                }
            }
            if passed == 0 {
                if let Some((false, m)) = &best
                    && m.path.len() > path.len()
                {
                    return Err(m.clone());
                }
                let detail = best.map(|(_, f)| format!(" (closest: {} {})", f.place(), f.problem)).unwrap_or_default();
                return self
                    .fail(path, format!("{} matches none of the {} allowed forms{detail}", shown(v), options.len()));
            }
            if key == "oneOf" && passed > 1 {
                return self.fail(path, format!("{} matches {passed} of the forms, where exactly one must", shown(v)));
            }
        }
        if let Some(not) = s.get("not")
            && self.check(not, v, path).is_ok()
        {
            return self.fail(path, format!("{} is of a form that is not allowed here", shown(v)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use schemars::{JsonSchema, schema_for};
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;

    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Address {
        city: String,
        zip: Option<u32>,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Contact {
        Email { to: String },
        Phone { number: String, country: u16 },
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct User {
        id: u64,
        name: String,
        age: Option<u8>,
        tags: Vec<String>,
        home: Option<Address>,
        contacts: Vec<Contact>,
        scores: BTreeMap<String, f64>,
        level: Level,
        pair: (i32, bool),
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    enum Level {
        Low,
        High,
    }

    fn good() -> Value {
        json!({
            "id": 7, "name": "Ada", "age": 36, "tags": ["a"], "home": {"city": "London", "zip": null},
            "contacts": [{"kind": "email", "to": "ada@example.org"}, {"kind": "phone", "number": "1", "country": 44}],
            "scores": {"x": 1.5}, "level": "high", "pair": [-3, true]
        })
    }

    fn cases() -> Vec<(Value, &'static str, &'static str)> {
        let mut out = Vec::new();
        let mut with = |pointer: &str, v: Value, path: &'static str, needle: &'static str| {
            let mut doc = good();
            match doc.pointer_mut(pointer) {
                Some(slot) => *slot = v,
                None => panic!("{pointer}"),
            }
            out.push((doc, path, needle));
        };
        with("/id", json!("7"), "id", "expected an integer, got a string");
        with("/id", json!(-1), "id", "does not fit a uint64");
        with("/age", json!(300), "age", "does not fit a uint8");
        with("/name", json!(null), "name", "expected a string");
        with("/tags/0", json!(1), "tags[0]", "expected a string");
        with("/home/city", json!(false), "home.city", "expected a string");
        with("/contacts/1/country", json!(70000), "contacts[1].country", "does not fit a uint16");
        with("/contacts/0/kind", json!("fax"), "contacts[0]", "none of the 2 allowed forms");
        with("/scores/x", json!("high"), "scores.x", "expected a number");
        with("/level", json!("medium"), "level", "must be one of");
        with("/pair", json!([1]), "pair", "fewer than 2");
        with("/pair/1", json!(1), "pair[1]", "expected a boolean");
        let mut missing = good();
        missing.as_object_mut().map(|m| m.remove("name"));
        out.push((missing, "name", "is missing"));
        let mut extra = good();
        extra.as_object_mut().map(|m| m.insert("nick".into(), json!("a")));
        out.push((extra, "nick", "not a field"));
        out.push((json!([1, 2]), "", "expected an object, got a list"));
        out
    }

    #[test]
    fn a_valid_payload_passes() {
        let schema = schema_for!(User).to_value();
        assert_eq!(check(&schema, &good()), Ok(()));
    }

    #[test]
    fn mismatches_name_the_field_and_the_problem() {
        let schema = schema_for!(User).to_value();
        for (doc, path, needle) in cases() {
            let m = check(&schema, &doc).expect_err(needle);
            assert_eq!(m.path, path, "{m:?}");
            assert!(m.problem.contains(needle), "`{}` should say `{needle}`", m.problem);
        }
    }

    #[test]
    fn it_agrees_with_a_full_validator() {
        let schema = schema_for!(User).to_value();
        let reference = jsonschema::validator_for(&schema).expect("a valid schema");
        let mut docs: Vec<Value> = cases().into_iter().map(|c| c.0).collect();
        docs.push(good());
        docs.push(json!({"id": 1}));
        docs.push(json!(null));
        for doc in docs {
            assert_eq!(check(&schema, &doc).is_ok(), reference.is_valid(&doc), "{doc}");
        }
    }
}
