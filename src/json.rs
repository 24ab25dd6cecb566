//! Strict JSON objects: a key given twice is an error, never "last one wins" (SPEC §8). The
//! one duplicate-key check of the crate: the stores' files, `mint --payload`'s claims and
//! `user import`'s records read their objects through it.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

/// What an object is called in messages, and how a repeated key is reported.
pub trait Object {
    /// serde's "expected …" for a value that is not an object.
    const EXPECTING: &'static str;

    /// The message for `key` given twice.
    fn repeated(key: &str) -> String {
        format!("duplicate field `{key}`")
    }
}

/// Reads the members of a JSON object in order, each key once: `member` reads the value of a
/// key (it must call `map.next_value…` once). A repeated key is an error of `O`'s message,
/// raised where the second key ends.
///
/// # Errors
/// The repeated key, or the error of `member` or of a key.
pub fn members<'de, A, K, O>(
    mut map: A,
    mut member: impl FnMut(K, &mut A) -> Result<(), A::Error>,
) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    K: Deserialize<'de> + AsRef<str>,
    O: Object,
{
    let mut seen = HashSet::new();
    while let Some(k) = map.next_key::<K>()? {
        if !seen.insert(k.as_ref().to_owned()) {
            return Err(de::Error::custom(O::repeated(k.as_ref())));
        }
        member(k, &mut map)?;
    }
    Ok(())
}

/// A JSON object's members in order, each key once (see [`members`]).
pub type Unique<K, V, O> = Entries<K, V, O, true>;

/// A JSON object's members in order, a repeated key kept: for a reader that reports a repeat
/// itself, with more to say than this module can (the line of each, or a skipped entry of an
/// import). Never a map that keeps the last of two.
pub type Ordered<K, V, O> = Entries<K, V, O, false>;

/// A JSON object's members in order: [`Unique`] (`STRICT`, a repeated key is an error) or
/// [`Ordered`].
pub struct Entries<K, V, O, const STRICT: bool> {
    pub entries: Vec<(K, V)>,
    object: PhantomData<O>,
}

impl<'de, K, V, O, const STRICT: bool> Deserialize<'de> for Entries<K, V, O, STRICT>
where
    K: Deserialize<'de> + AsRef<str>,
    V: Deserialize<'de>,
    O: Object,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<K, V, O, const STRICT: bool>(PhantomData<(K, V, O)>);
        impl<'de, K, V, O, const STRICT: bool> Visitor<'de> for V2<K, V, O, STRICT>
        where
            K: Deserialize<'de> + AsRef<str>,
            V: Deserialize<'de>,
            O: Object,
        {
            type Value = Entries<K, V, O, STRICT>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(O::EXPECTING)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                if STRICT {
                    members::<A, K, O>(map, |k, map| {
                        entries.push((k, map.next_value()?));
                        Ok(())
                    })?;
                } else {
                    while let Some(k) = map.next_key::<K>()? {
                        entries.push((k, map.next_value()?));
                    }
                }
                Ok(Entries {
                    entries,
                    object: PhantomData,
                })
            }
        }
        d.deserialize_map(V2::<K, V, O, STRICT>(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Times;
    impl Object for Times {
        const EXPECTING: &'static str = "an object of times";
        fn repeated(key: &str) -> String {
            format!("duplicate entry {key:?}")
        }
    }
    struct Record;
    impl Object for Record {
        const EXPECTING: &'static str = "a record";
    }

    #[test]
    fn keys_once_in_order() {
        let u: Unique<String, i64, Times> = serde_json::from_str(r#"{"b":2,"a":1}"#).unwrap();
        assert_eq!(u.entries, [("b".into(), 2), ("a".into(), 1)]);
        let e = serde_json::from_str::<Unique<String, i64, Times>>(r#"{"a":1,"a":2}"#)
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "duplicate entry \"a\" at line 1 column 10");
        let e = serde_json::from_str::<Unique<String, i64, Record>>("{\"x\":1,\n\"x\":1}")
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "duplicate field `x` at line 2 column 3");
        let e = serde_json::from_str::<Unique<String, i64, Record>>("[1]")
            .err()
            .unwrap();
        assert!(e.to_string().contains("expected a record"), "{e}");
    }

    #[test]
    fn ordered_keeps_a_repeated_key_for_the_caller() {
        let o: Ordered<String, i64, Record> =
            serde_json::from_str(r#"{"b":2,"a":1,"b":3}"#).unwrap();
        assert_eq!(
            o.entries,
            [("b".into(), 2), ("a".into(), 1), ("b".into(), 3)]
        );
    }
}
