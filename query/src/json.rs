//! `json_get_str(json_text, key) -> Utf8`: one top-level value of a JSON object as text.
//!
//! Properties that the tracking plan did not promote to typed columns are stored as JSON object
//! text (`event_properties`, `user_properties`). This scalar function reads one of them: strings
//! come back as they are, numbers and booleans as their JSON text (`3`, `2.5`, `true`), arrays and
//! objects as compact JSON; a null, a missing key, a null row or text that is not a JSON object
//! give null. Only the wanted value is materialised; the rest of the object is skipped.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::lit;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// The `json_get_str` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct JsonGetStr {
    signature: Signature,
}

impl JsonGetStr {
    fn new() -> Self {
        let string_types = [DataType::Utf8, DataType::Utf8View, DataType::LargeUtf8];
        let variants = string_types
            .iter()
            .flat_map(|json| {
                string_types
                    .iter()
                    .map(|key| TypeSignature::Exact(vec![json.clone(), key.clone()]))
            })
            .collect();
        JsonGetStr {
            signature: Signature::one_of(variants, Volatility::Immutable),
        }
    }
}

/// `json_get_str(json, key)` as an expression.
pub(crate) fn json_get_str(json: Expr, key: &str) -> Expr {
    ScalarUDF::new_from_impl(JsonGetStr::new()).call(vec![json, lit(key.to_owned())])
}

impl ScalarUDFImpl for JsonGetStr {
    fn name(&self) -> &str {
        "json_get_str"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let utf8 = arrays
            .iter()
            .map(|a| cast(a, &DataType::Utf8))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        let [json, key] = utf8.as_slice() else {
            return datafusion::common::exec_err!("json_get_str takes 2 arguments");
        };
        let (json, key) = (as_string_array(json)?, as_string_array(key)?);
        let result: StringArray = (0..json.len())
            .map(|row| match (json.is_valid(row), key.is_valid(row)) {
                (true, true) => get_str(json.value(row), key.value(row)),
                _ => None,
            })
            .collect();
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &result, 0,
            )?));
        }
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// The value of `key` in the JSON object `text`, rendered as text; `None` when absent or null.
pub(crate) fn get_str(text: &str, key: &str) -> Option<String> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = KeyLookup { key }.deserialize(&mut deserializer).ok()??;
    match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        nested => serde_json::to_string(&nested).ok(),
    }
}

/// Walks the top level of an object, keeping the value of one key (the last, if repeated).
struct KeyLookup<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for KeyLookup<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KeyLookup<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(matches) = map.next_key_seed(KeyEquals(self.key))? {
            if matches {
                found = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Compares an object key with the wanted one without allocating.
struct KeyEquals<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyEquals<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyEquals<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::get_str;

    #[test]
    fn renders_scalars_as_text() {
        let text = r#"{"s":"x","i":3,"f":2.5,"b":true,"n":null,"a":[1,"y"],"o":{"k":1}}"#;
        assert_eq!(get_str(text, "s").as_deref(), Some("x"));
        assert_eq!(get_str(text, "i").as_deref(), Some("3"));
        assert_eq!(get_str(text, "f").as_deref(), Some("2.5"));
        assert_eq!(get_str(text, "b").as_deref(), Some("true"));
        assert_eq!(get_str(text, "n"), None);
        assert_eq!(get_str(text, "a").as_deref(), Some(r#"[1,"y"]"#));
        assert_eq!(get_str(text, "o").as_deref(), Some(r#"{"k":1}"#));
    }

    #[test]
    fn missing_key_and_bad_text_are_null() {
        assert_eq!(get_str(r#"{"a":1}"#, "b"), None);
        assert_eq!(get_str("not json", "a"), None);
        assert_eq!(get_str("[1,2]", "a"), None);
        assert_eq!(get_str("", "a"), None);
    }

    #[test]
    fn escaped_keys_and_values_match() {
        let text = r#"{"caf\u00e9":"na\"me","with space":"v"}"#;
        assert_eq!(get_str(text, "café").as_deref(), Some("na\"me"));
        assert_eq!(get_str(text, "with space").as_deref(), Some("v"));
    }
}
