//! Users: the record of SPEC §1 and the rules for names. Where records are kept is the
//! store's business (`store::UserStore`).

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use crate::error::{Error, GroupRule, Result};

mod skeleton;
use skeleton::skeleton;

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
/// (`аlice` with a Cyrillic а and `alice`; `aIice` with a capital I and `alice`). Case is not
/// folded: `Alice` and `alice` are not confusable.
pub fn confusable(a: &str, b: &str) -> bool {
    a != b && skeleton(a).eq(skeleton(b))
}

/// The first of `existing` that is [`confusable`] with `name`, if any: `user add`'s check
/// against every user in the store. The skeletons are compared as they are made, so a name
/// that differs early costs a few characters' work, and each character's skeleton is made
/// once (a table for ASCII): 100,000 users cost a few milliseconds (SPEC §7).
pub fn confusable_with<'a>(
    name: &str,
    existing: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut maker = SkeletonMaker::default();
    let mut target = String::new();
    maker.make(name, &mut target);
    let target: Vec<char> = target.chars().collect();
    existing
        .into_iter()
        .find(|other| *other != name && maker.matches(other, &target))
}

/// The UTS #39 skeleton of a name, made a character at a time: UTS #39 defines it on the whole
/// string (NFD, each character's prototype, NFD again), which is the characters' own skeletons
/// one after the other whenever each of them starts with a non-combining character (and its
/// decomposition too), so no reordering of combining marks reaches across. Each character's
/// skeleton is made once; a character it does not hold for sends its whole name the long way.
#[derive(Default)]
struct SkeletonMaker {
    /// Beyond ASCII: a character's skeleton, or `None` when it cannot be used alone.
    other: HashMap<char, Option<Box<str>>>,
}

impl SkeletonMaker {
    /// The skeleton of `c` when the name's skeleton can be made from it alone.
    fn piece(&mut self, c: char) -> Option<&str> {
        if c.is_ascii() {
            return ascii_skeletons()[usize::from(c as u8)].as_deref();
        }
        self.other.entry(c).or_insert_with(|| alone(c)).as_deref()
    }

    /// Appends the skeleton of `name` to `out`.
    fn make(&mut self, name: &str, out: &mut String) {
        let start = out.len();
        for c in name.chars() {
            match self.piece(c) {
                Some(p) => out.push_str(p),
                None => {
                    out.truncate(start);
                    out.extend(skeleton(name));
                    return;
                }
            }
        }
    }

    /// Whether the skeleton of `name` is `target`, stopping at the first difference.
    fn matches(&mut self, name: &str, target: &[char]) -> bool {
        // A character to be taken the long way may reorder marks before it: look first.
        // (Every ASCII character can be used alone.)
        if !name.is_ascii() && !name.chars().all(|c| self.piece(c).is_some()) {
            return skeleton(name).eq(target.iter().copied());
        }
        let mut want = target.iter().copied();
        for c in name.chars() {
            let Some(p) = self.piece(c) else {
                return false;
            };
            if !p.chars().all(|c| want.next() == Some(c)) {
                return false;
            }
        }
        want.next().is_none()
    }
}

/// The skeleton of `c` if a name's skeleton may be made from it alone: it and its
/// decomposition start with a non-combining character (see [`SkeletonMaker`]).
fn alone(c: char) -> Option<Box<str>> {
    use unicode_normalization::char::canonical_combining_class as ccc;
    let starter = |first: Option<char>| first.is_some_and(|f| ccc(f) == 0);
    let own: String = skeleton(c.encode_utf8(&mut [0; 4])).collect();
    (starter(std::iter::once(c).nfd().next()) && starter(own.chars().next()))
        .then(|| own.into_boxed_str())
}

/// The skeleton of each ASCII character (`m` → `rn`, `0` → `O`, `1`, `I` and `|` → `l`,
/// `%` → `°/₀`), or `None` for the few (controls) that cannot be used alone.
fn ascii_skeletons() -> &'static [Option<Box<str>>; 128] {
    static TABLE: std::sync::OnceLock<[Option<Box<str>>; 128]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| std::array::from_fn(|i| alone(char::from(u8::try_from(i).unwrap_or(0)))))
}

/// Names by their UTS #39 skeleton, for checking many new names at once (`user import`):
/// each check is a hash lookup instead of a pass over every user.
#[derive(Default)]
pub struct Skeletons {
    by_skeleton: HashMap<String, String>,
    maker: SkeletonMaker,
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
        let mut skeleton = String::new();
        self.maker.make(name, &mut skeleton);
        self.by_skeleton
            .entry(skeleton)
            .or_insert_with(|| name.to_string());
    }

    /// A known name confusable with `name` (another name with its skeleton), if any.
    pub fn confusable(&mut self, name: &str) -> Option<&str> {
        let mut skeleton = String::new();
        self.maker.make(name, &mut skeleton);
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
    let bad = |rule| Error::Group {
        group: group.to_string(),
        rule,
    };
    let chars = group.chars().count();
    if chars == 0 {
        return Err(bad(GroupRule::Empty));
    }
    if chars > MAX_GROUP_CHARS {
        return Err(bad(GroupRule::TooLong(MAX_GROUP_CHARS)));
    }
    if group
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_format(c))
    {
        return Err(bad(GroupRule::Invisible));
    }
    if group.contains(',') {
        return Err(bad(GroupRule::Comma));
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
        assert!(confusable("aIice", "alice"));
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

    /// The skeleton made a character at a time is UTS #39's (`unicode_security::skeleton`).
    fn same_as_uts39(name: &str) {
        let mut made = String::new();
        SkeletonMaker::default().make(name, &mut made);
        let full: String = unicode_security::skeleton(name).collect();
        assert_eq!(made, full, "{name:?}");
        let target: Vec<char> = full.chars().collect();
        assert!(SkeletonMaker::default().matches(name, &target), "{name:?}");
    }

    #[test]
    fn skeletons_made_a_character_at_a_time_are_uts39s() {
        // Every pair of printable ASCII characters.
        for a in '!'..='~' {
            for b in '!'..='~' {
                same_as_uts39(&format!("{a}{b}"));
            }
        }
        // Precomposed and decomposed letters, combining marks in and out of canonical order,
        // a leading mark, Hangul, Cyrillic, Greek, CJK, digits of other scripts, ligatures.
        for name in [
            "j\u{f6}rg",
            "jo\u{308}rg",
            "a\u{301}\u{316}b",
            "a\u{316}\u{301}b",
            "\u{1e09}\u{323}",
            "\u{301}abc",
            "\u{d55c}\u{ad6d}\u{c5b4}",
            "\u{430}\u{43b}\u{438}\u{441}\u{430}",
            "\u{3b1}\u{3b2}\u{3b3}",
            "\u{5c71}\u{7530}",
            "\u{661}\u{662}\u{663}",
            "\u{fb01}le",
            "x\u{3164}y",
            "rn0I1|m%",
        ] {
            same_as_uts39(name);
        }
        assert!(confusable("rn", "m"));
        assert!(confusable("he11o", "hello"));
        assert_eq!(confusable_with("he11o", ["bob", "hello"]), Some("hello"));
        assert_eq!(
            confusable_with("jo\u{308}rg", ["j\u{f6}rg"]),
            Some("j\u{f6}rg")
        );
    }

    proptest::proptest! {
        #[test]
        fn skeleton_maker_agrees_with_uts39(
            name in "[a-zA-Z0-9%|\u{300}-\u{36f}\u{430}-\u{44f}\u{c0}-\u{17f}\u{1e00}-\u{1eff}\u{1100}-\u{1112}\u{1161}-\u{1175}\u{ac00}-\u{ac10}\u{3164}\u{fb00}-\u{fb06}]{0,8}"
        ) {
            same_as_uts39(&name);
        }
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
