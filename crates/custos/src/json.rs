//! Reading fields of the server's JSON answers without indexing.

use serde_json::Value;

static NULL: Value = Value::Null;

/// `value.at("key")` is what `value["key"]` reads (the field, or `null` when
/// it is missing or `value` is no object), spelt without the index operator
/// the crate's lints deny.
pub trait Field {
    fn at(&self, key: &str) -> &Value;
}

impl Field for Value {
    fn at(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_reads_like_index() {
        let v = serde_json::json!({ "a": { "b": 1 }, "s": "x" });
        for (path, want) in [(["a", "b"], &v["a"]["b"]), (["a", "c"], &v["a"]["c"])] {
            assert_eq!(v.at(path[0]).at(path[1]), want);
        }
        assert_eq!(v.at("s").at("b"), &v["s"]["b"]);
        assert_eq!(v.at("missing"), &Value::Null);
        assert_eq!(Value::Null.at("a"), &Value::Null);
    }
}
