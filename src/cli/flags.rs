//! The command line's parsers of the values that shape a token: `--claim K=V`, `--header K=V`,
//! and durations and times named by their flag. The core parses plain values
//! ([`crate::duration`]) with typed errors; these add the flag to the message.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::duration::TimeError;
use crate::error::{Error, Result};

/// Claims a `--claim` may not set: each has its own flag.
pub const RESERVED_CLAIMS: [&str; 6] = ["sub", "iat", "exp", "nbf", "iss", "aud"];

/// Parses a duration ([`crate::duration::parse_duration`]) for `flag`.
///
/// # Errors
/// A usage error naming `flag`.
pub fn duration(flag: &str, s: &str) -> Result<i64> {
    crate::duration::parse_duration(s)
        .map_err(|e| Error::invalid(format!("{flag} {:?}", s.trim()), e))
}

/// Parses a token lifetime (`--ttl`): a duration as [`duration`] takes it, longer than
/// zero. A zero lifetime would make a token that is expired when it is born; the configuration
/// file refuses `ttl = 0` the same way (SPEC §15).
///
/// # Errors
/// A usage error naming `flag`.
pub fn lifetime(flag: &str, s: &str) -> Result<i64> {
    let secs = duration(flag, s)?;
    if secs == 0 {
        return Err(Error::invalid(
            format!("{flag} {:?}", s.trim()),
            "must be longer than zero",
        ));
    }
    Ok(secs)
}

/// Parses a time ([`crate::duration::parse_time`]) for `flag`.
///
/// # Errors
/// A usage error naming `flag`.
pub fn time(flag: &str, s: &str) -> Result<i64> {
    let s = s.trim();
    crate::duration::parse_time(s).map_err(|e| match e {
        TimeError::OutOfRange => Error::invalid(format!("{flag} {s}"), e),
        _ => Error::invalid(format!("{flag} {s:?}"), e),
    })
}

/// Header fields RFC 7515 defines as strings: `--header` takes their values as given, so
/// `--header kid=1` is the string "1", never a number.
const STRING_HEADERS: [&str; 3] = ["kid", "typ", "cty"];

/// Parses `mint --header K=V` values into header fields: V is JSON if it parses, else a
/// string, except for `kid`, `typ` and `cty`, which are always strings.
///
/// # Errors
/// A usage error for a missing `=`, an empty name, `alg` (the algorithm comes from the key
/// and `--alg`, never from a header flag) or a field given twice.
pub fn header_fields(specs: &[String], into: &mut Map<String, Value>) -> Result<()> {
    for spec in specs {
        let Some((k, v)) = spec.split_once('=') else {
            return Err(Error::invalid(
                format!("--header {spec:?}"),
                "expected K=V, e.g. --header kid=2024-01",
            ));
        };
        if k.is_empty() {
            return Err(Error::invalid(
                format!("--header {spec:?}"),
                "the field name is empty",
            ));
        }
        if k == "alg" {
            return Err(Error::invalid(
                format!("--header {k}"),
                "the algorithm is not a header flag: it comes from the key, or --alg",
            ));
        }
        if into.contains_key(k) {
            return Err(Error::invalid(format!("--header {k}"), "is given twice"));
        }
        let value = if STRING_HEADERS.contains(&k) {
            Value::String(v.to_string())
        } else {
            serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()))
        };
        into.insert(k.to_string(), value);
    }
    Ok(())
}

/// Parses `--claim K=V` values into a claims map: V is JSON if it parses, else a string.
///
/// # Errors
/// A usage error for a missing `=`, an empty key, a reserved claim or a duplicate.
pub fn claims(specs: &[String], into: &mut Map<String, Value>) -> Result<()> {
    let mut seen = HashSet::new();
    for spec in specs {
        let Some((k, v)) = spec.split_once('=') else {
            return Err(Error::invalid(format!("--claim {spec:?}"), "expected K=V"));
        };
        if k.is_empty() {
            return Err(Error::invalid(
                format!("--claim {spec:?}"),
                "the claim name is empty",
            ));
        }
        if RESERVED_CLAIMS.contains(&k) {
            return Err(Error::invalid(
                format!("--claim {k}"),
                format!("set {k} with its own flag (--{k})"),
            ));
        }
        if !seen.insert(k) {
            return Err(Error::invalid(format!("--claim {k}"), "is given twice"));
        }
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        // A token id is a string (RFC 7519 §4.1.7); a number here would mint a token that
        // verification and logout cannot use.
        if k == "jti" && !value.is_string() {
            return Err(Error::invalid(
                format!("--claim {spec:?}"),
                "jti must be a string",
            ));
        }
        into.insert(k.to_string(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("--ttl", "20s").unwrap(), 20);
        assert_eq!(duration("--ttl", "15m").unwrap(), 900);
        assert_eq!(duration("--ttl", "2h").unwrap(), 7200);
        assert_eq!(duration("--ttl", "7d").unwrap(), 604_800);
        assert_eq!(duration("--ttl", "42").unwrap(), 42);
        assert!(duration("--ttl", "soon").is_err());
        assert!(duration("--ttl", "-5").is_err());
        assert!(duration("--ttl", "1000y").is_err());
        assert_eq!(duration("--leeway", "0").unwrap(), 0);
        for zero in ["0", "0s", " 0m "] {
            assert!(lifetime("--ttl", zero).is_err(), "{zero}");
        }
        assert_eq!(lifetime("--ttl", "1s").unwrap(), 1);
    }

    #[test]
    fn times() {
        assert_eq!(time("--exp", "0").unwrap(), 0);
        assert_eq!(
            time("--exp", "2026-01-01T00:00:00Z").unwrap(),
            1_767_225_600
        );
        assert_eq!(
            time("--exp", "2026-01-01T01:00:00+01:00").unwrap(),
            1_767_225_600
        );
        assert!(time("--exp", "tomorrow").is_err());
        assert!(time("--exp", "-1").is_err());
    }

    #[test]
    fn claim_flags() {
        let mut m = Map::new();
        claims(
            &[
                "n=1".into(),
                "s=x".into(),
                "o={\"a\":[1]}".into(),
                "q=\"7\"".into(),
                "e=".into(),
            ],
            &mut m,
        )
        .unwrap();
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"n":1,"s":"x","o":{"a":[1]},"q":"7","e":""})
        );
        assert!(claims(&["x".into()], &mut Map::new()).is_err());
        assert!(claims(&["=1".into()], &mut Map::new()).is_err());
        assert!(claims(&["exp=1".into()], &mut Map::new()).is_err());
        assert!(claims(&["a=1".into(), "a=2".into()], &mut Map::new()).is_err());
        assert!(claims(&["jti=1".into()], &mut Map::new()).is_err());
        assert!(claims(&["jti=abc".into()], &mut Map::new()).is_ok());
    }

    #[test]
    fn header_flags() {
        let mut m = Map::new();
        header_fields(
            &["kid=1".into(), "typ=at+jwt".into(), "x5c=[\"a\"]".into()],
            &mut m,
        )
        .unwrap();
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"kid": "1", "typ": "at+jwt", "x5c": ["a"]})
        );
        assert!(header_fields(&["alg=none".into()], &mut Map::new()).is_err());
        assert!(header_fields(&["noequals".into()], &mut Map::new()).is_err());
        assert!(header_fields(&["=x".into()], &mut Map::new()).is_err());
        assert!(header_fields(&["a=1".into(), "a=2".into()], &mut Map::new()).is_err());
    }
}
