//! The algorithms and key kinds of SPEC §3, named once: every other module asks this leaf
//! module which algorithms a key signs and verifies and how they are spelled.

pub use jsonwebtoken::Algorithm;
use jsonwebtoken::AlgorithmFamily;

/// What a key is: it decides the algorithms it signs and verifies (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// An HMAC secret.
    Hmac,
    /// An RSA key.
    Rsa,
    /// An ECDSA key on P-256.
    P256,
    /// An ECDSA key on P-384.
    P384,
    /// An Ed25519 key.
    Ed25519,
}

impl KeyKind {
    /// The kind of key `alg` needs.
    pub fn of(alg: Algorithm) -> Self {
        match alg {
            Algorithm::ES256 => KeyKind::P256,
            Algorithm::ES384 => KeyKind::P384,
            Algorithm::EdDSA => KeyKind::Ed25519,
            a if a.family() == AlgorithmFamily::Rsa => KeyKind::Rsa,
            _ => KeyKind::Hmac,
        }
    }

    /// A human name (`RSA`, `P-256`, …).
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Hmac => "HMAC",
            KeyKind::Rsa => "RSA",
            KeyKind::P256 => "P-256",
            KeyKind::P384 => "P-384",
            KeyKind::Ed25519 => "Ed25519",
        }
    }

    /// "an RSA", "a P-256", … for messages.
    pub fn article(self) -> String {
        let name = self.name();
        match self {
            KeyKind::Hmac | KeyKind::Rsa | KeyKind::Ed25519 => format!("an {name}"),
            KeyKind::P256 | KeyKind::P384 => format!("a {name}"),
        }
    }

    /// Every algorithm this kind of key signs and verifies; the first is the default.
    pub fn algorithms(self) -> &'static [Algorithm] {
        use Algorithm::*;
        match self {
            KeyKind::Hmac => &[HS256, HS384, HS512],
            KeyKind::Rsa => &[RS256, RS384, RS512, PS256, PS384, PS512],
            KeyKind::P256 => &[ES256],
            KeyKind::P384 => &[ES384],
            KeyKind::Ed25519 => &[EdDSA],
        }
    }

    /// The default signing algorithm.
    pub fn default_alg(self) -> Algorithm {
        self.algorithms()[0]
    }
}

/// True for the HMAC algorithms (HS256/384/512).
pub fn is_hmac(alg: Algorithm) -> bool {
    alg.family() == AlgorithmFamily::Hmac
}

/// The JOSE name of an algorithm (`HS256`, `EdDSA`, …).
pub fn name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        _ => "unknown",
    }
}

/// `RS256, PS256, …` for messages.
pub fn names(algs: &[Algorithm]) -> String {
    let v: Vec<&str> = algs.iter().map(|a| name(*a)).collect();
    v.join(", ")
}

/// The family a header's `alg` name belongs to, for `decode`'s text view.
pub fn family_description(alg: &str) -> &'static str {
    match alg {
        "HS256" | "HS384" | "HS512" => "HMAC, shared secret",
        "RS256" | "RS384" | "RS512" => "RSA, PKCS#1 v1.5",
        "PS256" | "PS384" | "PS512" => "RSA, PSS",
        "ES256" => "ECDSA, P-256",
        "ES384" => "ECDSA, P-384",
        "ES512" => "ECDSA, P-521; not supported",
        "EdDSA" | "Ed25519" => "EdDSA, Ed25519",
        a if a.eq_ignore_ascii_case("none") => "unsigned; never accepted",
        _ => "unknown algorithm",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_names_itself_and_its_kind() {
        for kind in [
            KeyKind::Hmac,
            KeyKind::Rsa,
            KeyKind::P256,
            KeyKind::P384,
            KeyKind::Ed25519,
        ] {
            for &a in kind.algorithms() {
                assert_eq!(KeyKind::of(a), kind);
                assert_eq!(name(a).parse::<Algorithm>().ok(), Some(a));
                assert_ne!(family_description(name(a)), "unknown algorithm");
            }
        }
    }
}
