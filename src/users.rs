//! Users: the record of SPEC §1 and the rules for names. Where records are kept is the
//! store's business (`store::UserStore`).

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use crate::error::{Error, Result};

/// Longest user name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// One user, with the field names of the classic login service's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user name (also the key in the file, and the token's `sub`).
    #[serde(default)]
    pub username: String,
    /// Full name, if given.
    #[serde(default)]
    pub full_name: Option<String>,
    /// E-mail address, if given.
    #[serde(default)]
    pub email: Option<String>,
    /// bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`).
    pub hashed_password: String,
    /// A disabled user cannot log in.
    #[serde(default)]
    pub disabled: bool,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: i64,
    /// Unix seconds.
    #[serde(default)]
    pub password_changed_at: i64,
    /// Groups the user belongs to (`user set --group`): a login token carries them as its
    /// `groups` claim. Absent from the record when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// Longest group name, in characters.
pub const MAX_GROUP_CHARS: usize = 64;

/// Checks a user name (SPEC §8): 1–64 Unicode scalar values, none of them whitespace,
/// control, format (`Cf`: zero-width, bidi overrides, BOM) or `:` (htpasswd's separator).
///
/// # Errors
/// A usage error saying which rule was broken.
pub fn check_name(name: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid(format!("user name {name:?}"), why);
    let chars = name.chars().count();
    if chars == 0 {
        return Err(Error::invalid("user name", "must not be empty"));
    }
    if chars > MAX_NAME_CHARS {
        return Err(bad("is longer than 64 characters"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain whitespace or control characters"));
    }
    if name.chars().any(is_format) {
        return Err(bad(
            "must not contain invisible format characters (zero-width, bidi controls, BOM)",
        ));
    }
    if name.contains(':') {
        return Err(bad(
            "must not contain ':' (htpasswd separates name and hash with it)",
        ));
    }
    Ok(())
}

/// A user name as it is stored and compared: in Unicode NFC (SPEC §15), so a name typed in
/// NFD (`e` + U+0301) is the same user as the precomposed `é`. Every name a front end takes
/// in (an argument, a login form, an import line) goes through here before it is checked,
/// looked up or written; [`crate::store::open_users`] applies it to every store operation too.
/// Names already in NFC (all ASCII names) are borrowed as they are.
pub fn normalize_name(name: &str) -> Cow<'_, str> {
    if is_nfc_quick(name.chars()) == IsNormalized::Yes {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(name.nfc().collect())
    }
}

/// Whether `a` and `b` are different names that look alike: the same UTS #39 skeleton
/// (`аlice` with a Cyrillic а and `alice`; `alIce` with a capital I and `alice`). Case is not
/// folded: `Alice` and `alice` are not confusable. The skeletons are compared as they are
/// made, so two names that differ early cost a few characters' work.
pub fn confusable(a: &str, b: &str) -> bool {
    a != b && unicode_security::skeleton(a).eq(unicode_security::skeleton(b))
}

/// The first of `existing` that is [`confusable`] with `name`, if any: `user add`'s check
/// against every user in the store.
pub fn confusable_with<'a>(
    name: &str,
    existing: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let target: Vec<char> = unicode_security::skeleton(name).collect();
    existing.into_iter().find(|other| {
        if *other == name {
            return false;
        }
        let mut it = unicode_security::skeleton(other);
        target.iter().all(|c| it.next() == Some(*c)) && it.next().is_none()
    })
}

/// Names by their UTS #39 skeleton, for checking many new names at once (`user import`):
/// each check is a hash lookup instead of a pass over every user.
#[derive(Debug, Default)]
pub struct Skeletons {
    by_skeleton: HashMap<String, String>,
}

impl Skeletons {
    /// The skeletons of `names` (the first name of a skeleton is kept).
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut s = Skeletons::default();
        for n in names {
            s.insert(n);
        }
        s
    }

    /// Adds `name`.
    pub fn insert(&mut self, name: &str) {
        self.by_skeleton
            .entry(unicode_security::skeleton(name).collect())
            .or_insert_with(|| name.to_string());
    }

    /// A known name confusable with `name` (another name with its skeleton), if any.
    pub fn confusable(&self, name: &str) -> Option<&str> {
        let skeleton: String = unicode_security::skeleton(name).collect();
        self.by_skeleton
            .get(&skeleton)
            .map(String::as_str)
            .filter(|other| *other != name)
    }
}

/// Checks a group name: 1–64 Unicode scalar values, none of them whitespace, control or
/// format (`Cf`), and no `,` (forward-auth's `Remote-Groups` header separates groups with it).
///
/// # Errors
/// A usage error saying which rule was broken.
pub fn check_group(group: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid(format!("group {group:?}"), why);
    let chars = group.chars().count();
    if chars == 0 {
        return Err(Error::invalid("group", "must not be empty"));
    }
    if chars > MAX_GROUP_CHARS {
        return Err(bad("is longer than 64 characters"));
    }
    if group
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_format(c))
    {
        return Err(bad(
            "must not contain whitespace, control or invisible format characters",
        ));
    }
    if group.contains(',') {
        return Err(bad(
            "must not contain ',' (Remote-Groups separates groups with it); repeat --group instead",
        ));
    }
    Ok(())
}

/// True for a format character (Unicode general category `Cf`: zero-width characters, bidi
/// controls, the BOM, soft hyphen, tag characters…). Names refuse them; the front ends'
/// text output escapes them.
pub fn is_format(c: char) -> bool {
    let c = c as u32;
    // Most text is ASCII; the first entry is U+00AD.
    c >= 0xAD
        && FORMAT_CHARS
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
}

/// The `Cf` code points of Unicode 15.1, as sorted inclusive ranges (from UnicodeData.txt).
const FORMAT_CHARS: [(u32, u32); 21] = [
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        check_name("alice").unwrap();
        check_name("ünïcødé@example.com").unwrap();
        check_name(&"x".repeat(64)).unwrap();
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("a\tb").is_err());
        assert!(check_name("a\u{1b}[31m").is_err());
        assert!(check_name("a\u{200b}b").is_err());
        assert!(check_name("\u{feff}a").is_err());
        assert!(check_name("a\u{202e}").is_err());
        assert!(check_name("a:b").is_err());
    }

    #[test]
    fn names_are_nfc() {
        let nfd = "jose\u{301}";
        assert_eq!(normalize_name(nfd), "jos\u{e9}");
        assert!(matches!(normalize_name("alice"), Cow::Borrowed(_)));
        assert!(matches!(normalize_name("jos\u{e9}"), Cow::Borrowed(_)));
    }

    #[test]
    fn confusable_names() {
        assert!(confusable("\u{430}lice", "alice"));
        assert!(confusable("alIce", "alice"));
        assert!(!confusable("alice", "alice"));
        assert!(!confusable("Alice", "alice"));
        assert!(!confusable("bob", "alice"));
        let names = ["bob", "alice", "carol"];
        assert_eq!(confusable_with("\u{430}lice", names), Some("alice"));
        assert_eq!(confusable_with("alice", names), None);
        assert_eq!(confusable_with("alic", names), None);
        assert_eq!(confusable_with("alicee", names), None);
        let mut s = Skeletons::new(names);
        assert_eq!(s.confusable("\u{430}lice"), Some("alice"));
        assert_eq!(s.confusable("alice"), None);
        assert_eq!(s.confusable("dave"), None);
        s.insert("dave");
        assert_eq!(s.confusable("d\u{430}ve"), Some("dave"));
    }

    #[test]
    fn groups() {
        check_group("admins").unwrap();
        check_group("ops:read").unwrap();
        check_group(&"g".repeat(64)).unwrap();
        assert!(check_group("").is_err());
        assert!(check_group(&"g".repeat(65)).is_err());
        assert!(check_group("a,b").is_err());
        assert!(check_group("a b").is_err());
        assert!(check_group("a\u{202e}").is_err());
    }

    #[test]
    fn format_characters() {
        for c in [
            '\u{ad}',
            '\u{200b}',
            '\u{202e}',
            '\u{2066}',
            '\u{feff}',
            '\u{e0041}',
        ] {
            assert!(is_format(c), "{c:?}");
        }
        for c in ['a', ' ', '\u{ac}', '\u{2065}', 'é', '\u{1F600}'] {
            assert!(!is_format(c), "{c:?}");
        }
        let mut last = 0;
        for (lo, hi) in FORMAT_CHARS {
            assert!(lo <= hi && (last == 0 || lo > last + 1));
            last = hi;
        }
    }
}
