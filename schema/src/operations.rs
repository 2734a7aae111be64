//! Amplitude's user- and group-property operations (`$set`, `$setOnce`, `$add`, …) applied to a
//! property state.
//!
//! An update is the `user_properties` (or `group_properties`) object of an event. Operation keys
//! are applied in Amplitude's server order — `$clearAll`, `$unset`, `$set`, `$setOnce`, `$add`,
//! `$append`, `$prepend`, `$preInsert`, `$postInsert`, `$remove` — whatever their order in the
//! object (`shared/reference/amplitude.md` §3.5, §6.7). Plain keys (not starting with `$`) are
//! treated as `$set`, which is what Amplitude does with properties sent on ordinary events.

use serde_json::{Map, Value};

use crate::event::Properties;

/// The operations, in the order the server applies them.
pub const OPERATION_ORDER: &[&str] = &[
    "$clearAll",
    "$unset",
    "$set",
    "$setOnce",
    "$add",
    "$append",
    "$prepend",
    "$preInsert",
    "$postInsert",
    "$remove",
];

/// Applies `update` to `state`; returns whether `state` changed.
pub fn apply_operations(state: &mut Properties, update: &Properties) -> bool {
    let before = state.clone();
    let plain: Map<String, Value> = update
        .iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // `$clearAll` takes no arguments (SDKs send `"-"`) and comes first.
    if update.contains_key("$clearAll") {
        state.clear();
    }
    for op in &OPERATION_ORDER[1..] {
        if *op == "$set" {
            for (key, value) in &plain {
                state.insert(key.clone(), value.clone());
            }
        }
        if let Some(Value::Object(args)) = update.get(*op) {
            for (key, value) in args {
                apply_one(state, op, key, value);
            }
        }
    }
    *state != before
}

fn apply_one(state: &mut Properties, op: &str, key: &str, value: &Value) {
    match op {
        "$unset" => {
            state.remove(key);
        }
        "$set" => {
            state.insert(key.to_owned(), value.clone());
        }
        "$setOnce" => {
            state.entry(key).or_insert_with(|| value.clone());
        }
        "$add" => add(state, key, value),
        "$append" => insert_items(state, key, value, End::Back, Duplicates::Keep),
        "$prepend" => insert_items(state, key, value, End::Front, Duplicates::Keep),
        "$preInsert" => insert_items(state, key, value, End::Front, Duplicates::Skip),
        "$postInsert" => insert_items(state, key, value, End::Back, Duplicates::Skip),
        "$remove" => remove_items(state, key, value),
        _ => {}
    }
}

/// `$add`: numeric increment; a missing or non-numeric current value counts as 0. Integers stay
/// integers; a non-numeric increment is ignored.
fn add(state: &mut Properties, key: &str, value: &Value) {
    let Some(increment) = number(value) else {
        return;
    };
    let current = state.get(key).and_then(number).unwrap_or(Number::Int(0));
    let sum = match (current, increment) {
        (Number::Int(a), Number::Int(b)) => a
            .checked_add(b)
            .map_or_else(|| Value::from(a as f64 + b as f64), Value::from),
        (a, b) => {
            serde_json::Number::from_f64(a.as_f64() + b.as_f64()).map_or(Value::Null, Value::Number)
        }
    };
    if !sum.is_null() {
        state.insert(key.to_owned(), sum);
    }
}

#[derive(Debug, Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

fn number(value: &Value) -> Option<Number> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(Number::Int)
            .or_else(|| n.as_f64().map(Number::Float)),
        Value::String(s) => s.trim().parse::<i64>().map(Number::Int).ok().or_else(|| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Number::Float)
        }),
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum End {
    Front,
    Back,
}

#[derive(Clone, Copy, PartialEq)]
enum Duplicates {
    Keep,
    Skip,
}

/// The items an operation carries: an array's elements, or the one value.
fn items(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

/// `$append`/`$prepend` (duplicates kept) and `$postInsert`/`$preInsert` (only missing items). A
/// scalar current value becomes the first element of a list.
fn insert_items(
    state: &mut Properties,
    key: &str,
    value: &Value,
    end: End,
    duplicates: Duplicates,
) {
    let mut list = match state.remove(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list,
        Some(scalar) => vec![scalar],
    };
    let mut new_items: Vec<Value> = Vec::new();
    for item in items(value) {
        if duplicates == Duplicates::Skip && (list.contains(&item) || new_items.contains(&item)) {
            continue;
        }
        new_items.push(item);
    }
    match end {
        End::Back => list.extend(new_items),
        End::Front => {
            new_items.extend(list);
            list = new_items;
        }
    }
    state.insert(key.to_owned(), Value::Array(list));
}

/// `$remove`: drops every occurrence of the items from a list (a scalar equal to one of them is
/// removed too).
fn remove_items(state: &mut Properties, key: &str, value: &Value) {
    let gone = items(value);
    match state.get_mut(key) {
        Some(Value::Array(list)) => list.retain(|item| !gone.contains(item)),
        Some(scalar) if gone.contains(scalar) => {
            state.remove(key);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn props(value: Value) -> Properties {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn applied(state: Value, update: Value) -> Value {
        let mut state = props(state);
        apply_operations(&mut state, &props(update));
        Value::Object(state)
    }

    #[test]
    fn set_set_once_and_unset() {
        assert_eq!(
            applied(
                json!({"plan": "free", "first": "a", "old": 1}),
                json!({"$setOnce": {"first": "b", "signup": "2026-01-01"}, "$set": {"plan": "pro"},
                       "$unset": {"old": "-"}})
            ),
            json!({"plan": "pro", "first": "a", "signup": "2026-01-01"})
        );
    }

    #[test]
    fn plain_keys_are_set() {
        assert_eq!(
            applied(
                json!({"plan": "free"}),
                json!({"plan": "pro", "city": "Seoul"})
            ),
            json!({"plan": "pro", "city": "Seoul"})
        );
    }

    #[test]
    fn operations_apply_in_server_order_not_object_order() {
        // $unset runs before $set, and $set before $setOnce, whatever the JSON order.
        assert_eq!(
            applied(
                json!({"a": 1}),
                json!({"$setOnce": {"a": 3}, "$set": {"a": 2}, "$unset": {"a": "-"}})
            ),
            json!({"a": 2})
        );
        // $clearAll runs first, so the $set in the same update survives.
        assert_eq!(
            applied(
                json!({"a": 1, "b": 2}),
                json!({"$set": {"c": 3}, "$clearAll": "-"})
            ),
            json!({"c": 3})
        );
    }

    #[test]
    fn add_counts_from_zero_and_keeps_integers() {
        assert_eq!(
            applied(
                json!({"logins": 2}),
                json!({"$add": {"logins": 1, "spent": 2.5, "bad": "x"}})
            ),
            json!({"logins": 3, "spent": 2.5})
        );
        assert_eq!(
            applied(json!({"n": "4"}), json!({"$add": {"n": -1}})),
            json!({"n": 3})
        );
        assert_eq!(
            applied(json!({"n": 1.5}), json!({"$add": {"n": 1}})),
            json!({"n": 2.5})
        );
    }

    #[test]
    fn list_operations() {
        assert_eq!(
            applied(
                json!({"tags": ["a", "b"], "one": "x"}),
                json!({"$append": {"tags": ["c", "a"], "one": "y", "new": 1},
                       "$prepend": {"tags": "z"}})
            ),
            json!({"tags": ["z", "a", "b", "c", "a"], "one": ["x", "y"], "new": [1]})
        );
        assert_eq!(
            applied(
                json!({"tags": ["a", "b"]}),
                json!({"$preInsert": {"tags": ["b", "y"]}, "$postInsert": {"tags": ["a", "c", "c"]}})
            ),
            json!({"tags": ["y", "a", "b", "c"]})
        );
        assert_eq!(
            applied(
                json!({"tags": ["a", "b", "a"], "one": "x", "other": "y"}),
                json!({"$remove": {"tags": "a", "one": ["x"], "other": "z"}})
            ),
            json!({"tags": ["b"], "other": "y"})
        );
    }

    #[test]
    fn reports_whether_anything_changed() {
        let mut state = props(json!({"plan": "pro"}));
        assert!(!apply_operations(
            &mut state,
            &props(json!({"$set": {"plan": "pro"}}))
        ));
        assert!(!apply_operations(
            &mut state,
            &props(json!({"$setOnce": {"plan": "x"}}))
        ));
        assert!(apply_operations(
            &mut state,
            &props(json!({"$add": {"n": 1}}))
        ));
    }
}
