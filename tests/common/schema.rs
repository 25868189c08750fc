//! The published JSON schema of `sabench load --json`, and a minimal validator for it.

use serde_json::Value;

/// A minimal JSON Schema check: `type`, `required`, `properties`, `items`, `enum`,
/// `$ref`, `anyOf`.
pub fn validate(schema: &Value, root: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => root
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{at}: the schema's $ref {reference} points nowhere")),
        None => schema,
    };
    let mut problems = Vec::new();
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        if !branches
            .iter()
            .any(|branch| validate(branch, root, value, at).is_empty())
        {
            problems.push(format!("{at}: {value} fits none of {branches:?}"));
        }
    }
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = allowed.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_u64() || value.is_i64(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => false,
        });
        if !fits {
            problems.push(format!("{at}: {value} is not {allowed:?}"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            problems.push(format!("{at}: {value} not in {options:?}"));
        }
    }
    for key in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = key.as_str().unwrap();
        if value.get(key).is_none() {
            problems.push(format!("{at}: missing {key}"));
        }
    }
    if let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for (key, sub) in properties {
            if let Some(child) = object.get(key) {
                problems.extend(validate(sub, root, child, &format!("{at}.{key}")));
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, child) in array.iter().enumerate() {
            problems.extend(validate(items, root, child, &format!("{at}[{i}]")));
        }
    }
    problems
}

/// The published schema of `sabench load --json`.
pub fn schema() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/load-report.schema.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}
