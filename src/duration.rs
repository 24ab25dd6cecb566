//! Durations and points in time as a user writes them (`20s`, `15m`, `2h`, `7d`, seconds;
//! unix seconds or RFC 3339). A leaf: the errors are typed and name no flag or setting — the
//! front end (a command-line flag, a configuration key) adds its own name to the message.

/// A century: more than any token needs, and far from overflow in the arithmetic.
const MAX_SECONDS: u64 = 100 * 366 * 86_400;

/// The latest time accepted: 9999-12-31T23:59:59Z.
const MAX_TIME: i64 = 253_402_300_799;

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a duration at all (the parser's reason).
    #[error("{0}; expected e.g. 20s, 15m, 2h, 7d or seconds")]
    Unreadable(String),
    #[error("is longer than 100 years")]
    TooLong,
}

/// Why a time was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// A number, but not one between 1970 and the year 9999.
    #[error("unix seconds must be between 0 and 253402300799 (year 9999)")]
    OutOfRange,
    #[error("expected unix seconds or an RFC 3339 time such as 2026-01-01T00:00:00Z")]
    Unreadable,
    #[error("is before 1970")]
    Before1970,
}

/// Parses a duration: `20s`, `15m`, `2h`, `7d`, or plain seconds (surrounding blanks are
/// ignored), in seconds.
///
/// # Errors
/// Not a duration, or longer than 100 years.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    let s = s.trim();
    let secs = if let Ok(n) = s.parse::<u64>() {
        n
    } else {
        humantime::parse_duration(s)
            .map_err(|e| DurationError::Unreadable(e.to_string()))?
            .as_secs()
    };
    if secs > MAX_SECONDS {
        return Err(DurationError::TooLong);
    }
    Ok(secs as i64)
}

/// Parses a time: unix seconds or RFC 3339 (`2026-01-01T00:00:00Z`), in unix seconds
/// (surrounding blanks are ignored).
///
/// # Errors
/// Out of range (before 1970, after 9999) or not a time.
pub fn parse_time(s: &str) -> Result<i64, TimeError> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return if (0..=MAX_TIME).contains(&n) {
            Ok(n)
        } else {
            Err(TimeError::OutOfRange)
        };
    }
    let t = s
        .parse::<jiff::Timestamp>()
        .map_err(|_| TimeError::Unreadable)?
        .as_second();
    if t < 0 {
        return Err(TimeError::Before1970);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s"), Ok(20));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration(" 7d "), Ok(604_800));
        assert_eq!(parse_duration("42"), Ok(42));
        assert_eq!(parse_duration("0"), Ok(0));
        assert!(matches!(
            parse_duration("soon"),
            Err(DurationError::Unreadable(_))
        ));
        assert!(matches!(
            parse_duration("-5"),
            Err(DurationError::Unreadable(_))
        ));
        assert_eq!(parse_duration("1000y"), Err(DurationError::TooLong));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("0"), Ok(0));
        assert_eq!(parse_time("2026-01-01T00:00:00Z"), Ok(1_767_225_600));
        assert_eq!(parse_time("2026-01-01T01:00:00+01:00"), Ok(1_767_225_600));
        assert_eq!(parse_time("tomorrow"), Err(TimeError::Unreadable));
        assert_eq!(parse_time("-1"), Err(TimeError::OutOfRange));
        assert_eq!(
            parse_time("1969-12-31T23:59:59Z"),
            Err(TimeError::Before1970)
        );
    }
}
