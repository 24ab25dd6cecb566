//! Asymmetric keys (RSA, P-256, P-384, Ed25519): generating them for `init`, reading every
//! accepted file format (PKCS#8, SPKI, PKCS#1, SEC1, X.509 certificates; PEM or DER), their
//! public JWK and RFC 7638 thumbprint, and JWK Sets for `verify --jwks`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, KeyOperations, OctetKeyPairParameters, OctetKeyPairType,
    PublicKeyUse, RSAKeyParameters, RSAKeyType, ThumbprintHash,
};
use jsonwebtoken::{DecodingKey, EncodingKey};

use crate::alg::{Algorithm, KeyKind};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::der::asn1::AnyRef;
use p256::pkcs8::der::{Decode, Encode};
use p256::pkcs8::spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};
use p256::pkcs8::{LineEnding, PrivateKeyInfo};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde::Deserialize as _;
use serde_json::Value;
use x509_cert::certificate::{CertificateInner, Raw};
use zeroize::Zeroizing;

/// RSA modulus size of keys made by `init`.
pub const RSA_BITS: usize = 3072;
/// Smallest RSA key accepted for signing without `--allow-weak-key` (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");

/// The public half of an asymmetric key.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The uncompressed SEC1 point (0x04 || x || y).
    P256(Vec<u8>),
    /// The uncompressed SEC1 point (0x04 || x || y).
    P384(Vec<u8>),
    /// The 32-byte public key.
    Ed25519([u8; 32]),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PublicKey({}, {})",
            self.kind().name(),
            self.thumbprint()
        )
    }
}

impl PublicKey {
    /// What kind of key it is.
    pub fn kind(&self) -> KeyKind {
        match self {
            PublicKey::Rsa { .. } => KeyKind::Rsa,
            PublicKey::P256(_) => KeyKind::P256,
            PublicKey::P384(_) => KeyKind::P384,
            PublicKey::Ed25519(_) => KeyKind::Ed25519,
        }
    }

    /// The RSA modulus size in bits.
    pub fn rsa_bits(&self) -> Option<usize> {
        match self {
            PublicKey::Rsa { n, .. } => Some(BigUint::from_bytes_be(n).bits()),
            _ => None,
        }
    }

    /// The key in the form `jsonwebtoken`'s verifiers take.
    pub fn decoding_key(&self) -> DecodingKey {
        match self {
            PublicKey::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
            PublicKey::P256(p) | PublicKey::P384(p) => DecodingKey::from_ec_der(p),
            PublicKey::Ed25519(x) => DecodingKey::from_ed_der(x),
        }
    }

    /// The key's required JWK members (RFC 7638 §3.2), values base64url.
    fn params(&self) -> AlgorithmParameters {
        let b = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        match self {
            PublicKey::Rsa { n, e } => AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: b(n),
                e: b(e),
            }),
            PublicKey::P256(p) | PublicKey::P384(p) => {
                let half = (p.len() - 1) / 2;
                AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                    key_type: EllipticCurveKeyType::EC,
                    curve: match self {
                        PublicKey::P256(_) => EllipticCurve::P256,
                        _ => EllipticCurve::P384,
                    },
                    x: b(&p[1..1 + half]),
                    y: b(&p[1 + half..]),
                })
            }
            PublicKey::Ed25519(x) => AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: b(x),
            }),
        }
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): the `kid` of jwtauth's tokens.
    pub fn thumbprint(&self) -> String {
        let members = Jwk {
            common: CommonParameters::default(),
            algorithm: self.params(),
        };
        // The crate refuses only key types it has no thumbprint for (`oct` is not one of
        // ours, and `params` builds RSA, EC on P-256/P-384 and OKP on Ed25519), and its
        // RustCrypto SHA-256 cannot fail.
        members
            .thumbprint(ThumbprintHash::SHA256)
            .expect("RSA, EC and OKP keys have an RFC 7638 thumbprint")
    }

    /// The public JWK: `kty`, `use: sig`, `alg`, `kid` (the thumbprint) and the key members.
    pub fn jwk(&self, alg: Algorithm) -> Jwk {
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(alg.into()),
                key_id: Some(self.thumbprint()),
                ..CommonParameters::default()
            },
            algorithm: self.params(),
        }
    }

    /// The key as an SPKI PEM (`BEGIN PUBLIC KEY`).
    ///
    /// # Errors
    /// A message when the key cannot be encoded (not for keys this module built).
    pub fn to_pem(&self) -> Result<String, String> {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        match self {
            PublicKey::Rsa { n, e: exp } => {
                RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(exp))
                    .map_err(|x| e(&x))?
                    .to_public_key_pem(LineEnding::LF)
                    .map_err(|x| e(&x))
            }
            PublicKey::P256(p) => p256::PublicKey::from_sec1_bytes(p)
                .map_err(|x| e(&x))?
                .to_public_key_pem(LineEnding::LF)
                .map_err(|x| e(&x)),
            PublicKey::P384(p) => p384::PublicKey::from_sec1_bytes(p)
                .map_err(|x| e(&x))?
                .to_public_key_pem(LineEnding::LF)
                .map_err(|x| e(&x)),
            PublicKey::Ed25519(x) => ed25519_dalek::VerifyingKey::from_bytes(x)
                .map_err(|x| e(&x))?
                .to_public_key_pem(LineEnding::LF)
                .map_err(|x| e(&x)),
        }
    }
}

/// A key read from a file: always its public half, and the private half when present (as the
/// DER `jsonwebtoken` signs with: PKCS#1 for RSA, PKCS#8 for EC and Ed25519).
pub struct Parsed {
    /// The public key.
    pub public: PublicKey,
    /// The private key, if the file held one.
    pub private: Option<Zeroizing<Vec<u8>>>,
}

impl Parsed {
    /// The signing key, if there is a private half.
    pub fn encoding_key(&self) -> Option<EncodingKey> {
        let der = self.private.as_ref()?;
        Some(match self.public.kind() {
            KeyKind::Rsa => EncodingKey::from_rsa_der(der),
            KeyKind::P256 | KeyKind::P384 => EncodingKey::from_ec_der(der),
            KeyKind::Ed25519 | KeyKind::Hmac => EncodingKey::from_ed_der(der),
        })
    }
}

/// True when `bytes` hold a PEM block (the file is then never taken for an HMAC secret).
pub fn looks_like_pem(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, b"-----BEGIN ").is_some()
}

/// True when `bytes` are one DER SEQUENCE spanning the whole file and contain bytes no text
/// secret has: only then is a key file read as DER instead of as an HMAC secret.
pub fn looks_like_der(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x30)
        && bytes.iter().any(|&b| b < 0x09 || (0x0e..0x20).contains(&b))
        && AnyRef::from_der(bytes).is_ok()
}

/// Reads a PEM file: the first key or certificate block is used (an OpenSSL
/// `EC PARAMETERS` block before a SEC1 key is skipped).
///
/// # Errors
/// A message saying what is wrong with the file.
pub fn parse_pem(bytes: &[u8]) -> Result<Parsed, String> {
    let blocks = pem::parse_many(bytes).map_err(|e| format!("is not valid PEM: {e}"))?;
    if blocks.is_empty() {
        return Err("is not valid PEM: no complete BEGIN/END block".into());
    }
    let mut labels = Vec::new();
    for block in blocks {
        let der = Zeroizing::new(block.contents().to_vec());
        let label = block.tag().to_string();
        let result = match label.as_str() {
            "PRIVATE KEY" => private_pkcs8(&der),
            "RSA PRIVATE KEY" => private_pkcs1(&der),
            "EC PRIVATE KEY" => private_sec1(&der),
            "PUBLIC KEY" => public_spki(&der),
            "RSA PUBLIC KEY" => public_pkcs1(&der),
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => certificate(&der),
            "ENCRYPTED PRIVATE KEY" => Err(
                "holds an encrypted private key; decrypt it first (openssl pkey -in KEY -out PLAIN)"
                    .into(),
            ),
            "OPENSSH PRIVATE KEY" => Err(
                "holds an OpenSSH private key; convert it to PKCS#8 first (ssh-keygen -p -m PKCS8 -f KEY)"
                    .into(),
            ),
            _ => {
                labels.push(label);
                continue;
            }
        };
        return result.map_err(|why| format!("{label} block {why}"));
    }
    Err(format!(
        "holds no key or certificate PEM block (found {})",
        labels.join(", ")
    ))
}

/// Reads a DER file: PKCS#8, SPKI, X.509 certificate, PKCS#1 (private or public) or SEC1.
///
/// # Errors
/// A message when no format fits.
pub fn parse_der(der: &[u8]) -> Result<Parsed, String> {
    if PrivateKeyInfo::try_from(der).is_ok() {
        return private_pkcs8(der);
    }
    if SubjectPublicKeyInfoRef::try_from(der).is_ok() {
        return public_spki(der);
    }
    private_pkcs1(der)
        .or_else(|_| public_pkcs1(der))
        .or_else(|_| private_sec1(der))
        .or_else(|_| certificate(der))
        .map_err(|_| {
            "is DER but not a key format this tool reads (PKCS#8, SPKI, X.509, PKCS#1, SEC1)"
                .to_string()
        })
}

fn curve_name(oid: ObjectIdentifier) -> String {
    match oid {
        OID_P521 => "P-521".into(),
        o => format!("OID {o}"),
    }
}

fn unsupported(oid: ObjectIdentifier, params: Option<ObjectIdentifier>) -> String {
    let what = match oid {
        OID_RSA_PSS => "an RSASSA-PSS-only key (use a plain rsaEncryption key)".to_string(),
        OID_ED448 => "an Ed448 key".to_string(),
        OID_EC => format!(
            "an EC key on {}",
            params.map_or("an unnamed curve".to_string(), curve_name)
        ),
        o => format!("a key of algorithm OID {o}"),
    };
    format!("is {what}; supported are RSA, P-256, P-384 and Ed25519 (RS*/PS*, ES256, ES384, EdDSA)")
}

fn rsa_public(key: &RsaPublicKey) -> PublicKey {
    PublicKey::Rsa {
        n: key.n().to_bytes_be(),
        e: key.e().to_bytes_be(),
    }
}

fn from_rsa_private(key: RsaPrivateKey) -> Result<Parsed, String> {
    key.validate()
        .map_err(|e| format!("is not a valid RSA key: {e}"))?;
    let der = key
        .to_pkcs1_der()
        .map_err(|e| format!("cannot be re-encoded: {e}"))?;
    Ok(Parsed {
        public: rsa_public(&key.to_public_key()),
        private: Some(Zeroizing::new(der.as_bytes().to_vec())),
    })
}

fn from_p256(key: &p256::SecretKey) -> Result<Parsed, String> {
    let der = key
        .to_pkcs8_der()
        .map_err(|e| format!("cannot be re-encoded: {e}"))?;
    Ok(Parsed {
        public: PublicKey::P256(key.public_key().to_encoded_point(false).as_bytes().to_vec()),
        private: Some(Zeroizing::new(der.as_bytes().to_vec())),
    })
}

fn from_p384(key: &p384::SecretKey) -> Result<Parsed, String> {
    let der = key
        .to_pkcs8_der()
        .map_err(|e| format!("cannot be re-encoded: {e}"))?;
    Ok(Parsed {
        public: PublicKey::P384(key.public_key().to_encoded_point(false).as_bytes().to_vec()),
        private: Some(Zeroizing::new(der.as_bytes().to_vec())),
    })
}

fn from_ed25519(key: &ed25519_dalek::SigningKey) -> Result<Parsed, String> {
    let der = key
        .to_pkcs8_der()
        .map_err(|e| format!("cannot be re-encoded: {e}"))?;
    Ok(Parsed {
        public: PublicKey::Ed25519(key.verifying_key().to_bytes()),
        private: Some(Zeroizing::new(der.as_bytes().to_vec())),
    })
}

fn private_pkcs8(der: &[u8]) -> Result<Parsed, String> {
    let info = PrivateKeyInfo::try_from(der)
        .map_err(|e| format!("is not a valid PKCS#8 private key: {e}"))?;
    let oid = info.algorithm.oid;
    let params = info.algorithm.parameters_oid().ok();
    let bad = |e: &dyn std::fmt::Display| format!("is not a valid PKCS#8 key: {e}");
    match (oid, params) {
        (OID_RSA, _) => from_rsa_private(RsaPrivateKey::from_pkcs8_der(der).map_err(|e| bad(&e))?),
        (OID_EC, Some(OID_P256)) => {
            from_p256(&p256::SecretKey::from_pkcs8_der(der).map_err(|e| bad(&e))?)
        }
        (OID_EC, Some(OID_P384)) => {
            from_p384(&p384::SecretKey::from_pkcs8_der(der).map_err(|e| bad(&e))?)
        }
        (OID_ED25519, _) => {
            from_ed25519(&ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(|e| bad(&e))?)
        }
        (oid, params) => Err(unsupported(oid, params)),
    }
}

fn private_pkcs1(der: &[u8]) -> Result<Parsed, String> {
    from_rsa_private(
        RsaPrivateKey::from_pkcs1_der(der)
            .map_err(|e| format!("is not a valid PKCS#1 RSA private key: {e}"))?,
    )
}

fn private_sec1(der: &[u8]) -> Result<Parsed, String> {
    if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
        return from_p256(&k);
    }
    if let Ok(k) = p384::SecretKey::from_sec1_der(der) {
        return from_p384(&k);
    }
    Err("is not a P-256 or P-384 SEC1 EC private key (other curves are not supported)".into())
}

fn public_spki(der: &[u8]) -> Result<Parsed, String> {
    let info = SubjectPublicKeyInfoRef::try_from(der)
        .map_err(|e| format!("is not a valid SPKI public key: {e}"))?;
    let oid = info.algorithm.oid;
    let params = info.algorithm.parameters_oid().ok();
    let bad = |e: &dyn std::fmt::Display| format!("is not a valid public key: {e}");
    let public = match (oid, params) {
        (OID_RSA, _) => rsa_public(&RsaPublicKey::from_public_key_der(der).map_err(|e| bad(&e))?),
        (OID_EC, Some(OID_P256)) => PublicKey::P256(
            p256::PublicKey::from_public_key_der(der)
                .map_err(|e| bad(&e))?
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
        ),
        (OID_EC, Some(OID_P384)) => PublicKey::P384(
            p384::PublicKey::from_public_key_der(der)
                .map_err(|e| bad(&e))?
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
        ),
        (OID_ED25519, _) => PublicKey::Ed25519(
            ed25519_dalek::VerifyingKey::from_public_key_der(der)
                .map_err(|e| bad(&e))?
                .to_bytes(),
        ),
        (oid, params) => return Err(unsupported(oid, params)),
    };
    Ok(Parsed {
        public,
        private: None,
    })
}

fn public_pkcs1(der: &[u8]) -> Result<Parsed, String> {
    let key = RsaPublicKey::from_pkcs1_der(der)
        .map_err(|e| format!("is not a valid PKCS#1 RSA public key: {e}"))?;
    Ok(Parsed {
        public: rsa_public(&key),
        private: None,
    })
}

/// The subject public key of an X.509 certificate. The certificate itself (issuer, validity,
/// signature, serial number) is not checked: it only carries the key, as with
/// `openssl x509 -pubkey`; hence x509-cert's `Raw` profile.
fn certificate(der: &[u8]) -> Result<Parsed, String> {
    let bad = |e: p256::pkcs8::der::Error| format!("is not a valid X.509 certificate: {e}");
    let cert = CertificateInner::<Raw>::from_der(der).map_err(bad)?;
    let spki_der = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(bad)?;
    public_spki(&spki_der)
}

/// A new private key for `kind`, as PKCS#8 PEM, with its public key.
///
/// # Errors
/// A message when the random number generator or the key generation fails.
pub fn generate(kind: KeyKind) -> Result<(Zeroizing<String>, PublicKey), String> {
    let mut rng = rand_core::OsRng;
    let parsed_pem = |pem: Zeroizing<String>| -> Result<_, String> {
        let parsed = parse_pem(pem.as_bytes())?;
        Ok((pem, parsed.public))
    };
    let e = |e: &dyn std::fmt::Display| e.to_string();
    match kind {
        KeyKind::Rsa => {
            let key = RsaPrivateKey::new(&mut rng, RSA_BITS).map_err(|x| e(&x))?;
            parsed_pem(key.to_pkcs8_pem(LineEnding::LF).map_err(|x| e(&x))?)
        }
        KeyKind::P256 => parsed_pem(
            p256::SecretKey::random(&mut rng)
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|x| e(&x))?,
        ),
        KeyKind::P384 => parsed_pem(
            p384::SecretKey::random(&mut rng)
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|x| e(&x))?,
        ),
        KeyKind::Ed25519 => {
            let mut seed = Zeroizing::new([0u8; 32]);
            getrandom::fill(seed.as_mut()).map_err(|x| e(&x))?;
            parsed_pem(
                ed25519_dalek::SigningKey::from_bytes(&seed)
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|x| e(&x))?,
            )
        }
        KeyKind::Hmac => Err("an HMAC secret is not an asymmetric key".into()),
    }
}

/// base64url as JWKs carry it; padding tolerated.
const B64_JWK: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One key of a JWK Set, ready to verify with.
#[derive(Debug)]
pub struct SetKey {
    /// `kid`, or the RFC 7638 thumbprint when the JWK has none.
    pub kid: String,
    /// The public key.
    pub public: PublicKey,
    /// The JWK's `alg`, when it names one: the key then verifies only that algorithm.
    pub alg: Option<Algorithm>,
}

/// A JWK that cannot verify signatures, remembered so `verify` can say why its `kid` fails.
#[derive(Debug)]
pub struct Skipped {
    /// The JWK's `kid`, if any.
    pub kid: Option<String>,
    /// Why it is not used.
    pub why: String,
}

/// Reads a JWK Set (`{"keys":[…]}`; a single JWK object is taken as a set of one). Each key
/// is read by `jsonwebtoken::jwk::Jwk`; keys that cannot verify signatures (`use: enc`,
/// `key_ops` without `verify`, HMAC `oct` keys, unknown types or curves, points off the curve,
/// an `alg` the key cannot do) are skipped and listed, so `verify` can say why their `kid`
/// fails.
///
/// # Errors
/// A message when the document is not a JWK Set.
pub fn parse_jwks(bytes: &[u8]) -> Result<(Vec<SetKey>, Vec<Skipped>), String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("is not JSON: {e}"))?;
    // Key by key rather than as one `JwkSet`, so one bad key does not hide the others.
    let list = match &doc {
        Value::Object(m) if m.contains_key("keys") => match m.get("keys") {
            Some(Value::Array(a)) => a.as_slice(),
            _ => return Err("has a \"keys\" member that is not an array".into()),
        },
        Value::Object(m) if m.contains_key("kty") => std::slice::from_ref(&doc),
        _ => return Err("is not a JWK Set (expected {\"keys\": [...]})".into()),
    };
    let (mut keys, mut skipped) = (Vec::new(), Vec::new());
    for (i, raw) in list.iter().enumerate() {
        match parse_jwk(raw) {
            Ok((jwk, public, alg)) => keys.push(SetKey {
                kid: jwk.common.key_id.unwrap_or_else(|| public.thumbprint()),
                public,
                alg,
            }),
            Err(why) => skipped.push(Skipped {
                kid: raw.get("kid").and_then(Value::as_str).map(str::to_string),
                why: format!("key {} {why}", i + 1),
            }),
        }
    }
    Ok((keys, skipped))
}

/// One JWK of a set: read by the crate, then held to what jwtauth verifies with.
fn parse_jwk(raw: &Value) -> Result<(Jwk, PublicKey, Option<Algorithm>), String> {
    if !raw.is_object() {
        return Err("is not a JSON object".into());
    }
    let jwk = Jwk::deserialize(raw).map_err(|e| format!("is not a valid JWK: {e}"))?;
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(other) => {
            let u = match other {
                PublicKeyUse::Other(u) => u.as_str(),
                _ => "enc",
            };
            return Err(format!("is for \"use\": \"{u}\", not signatures"));
        }
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("has key_ops without \"verify\"".into());
    }
    let bytes = |k: &str, v: &str| {
        B64_JWK
            .decode(v)
            .map_err(|_| format!("has a \"{k}\" that is not base64url"))
    };
    let public = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => {
            let (n, e) = (bytes("n", &p.n)?, bytes("e", &p.e)?);
            let key = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e))
                .map_err(|e| format!("is not a usable RSA key: {e}"))?;
            rsa_public(&key)
        }
        AlgorithmParameters::EllipticCurve(p) => {
            let (x, y) = (bytes("x", &p.x)?, bytes("y", &p.y)?);
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            match p.curve {
                EllipticCurve::P256 if x.len() == 32 && y.len() == 32 => {
                    p256::PublicKey::from_sec1_bytes(&point)
                        .map_err(|_| "is not a point on P-256".to_string())?;
                    PublicKey::P256(point)
                }
                EllipticCurve::P384 if x.len() == 48 && y.len() == 48 => {
                    p384::PublicKey::from_sec1_bytes(&point)
                        .map_err(|_| "is not a point on P-384".to_string())?;
                    PublicKey::P384(point)
                }
                EllipticCurve::P256 | EllipticCurve::P384 => {
                    return Err(format!(
                        "has coordinates of the wrong size for {}",
                        curve_of(&p.curve)
                    ));
                }
                ref c => return Err(format!("has an unsupported curve {:?}", curve_of(c))),
            }
        }
        AlgorithmParameters::OctetKeyPair(p) => match p.curve {
            EllipticCurve::Ed25519 => {
                let x: [u8; 32] = bytes("x", &p.x)?
                    .try_into()
                    .map_err(|_| "has an Ed25519 \"x\" that is not 32 bytes".to_string())?;
                ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|_| "is not a valid Ed25519 key".to_string())?;
                PublicKey::Ed25519(x)
            }
            ref c => return Err(format!("has an unsupported curve {:?}", curve_of(c))),
        },
        AlgorithmParameters::OctetKey(_) => return Err(SYMMETRIC.into()),
        AlgorithmParameters::Other(p) => return Err(unreadable(&p.fields)),
        _ => return Err("has an unsupported key type".into()),
    };
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(ka) => {
            // The crate folds every name it does not know into one value: the name is the
            // document's.
            let name = raw.get("alg").and_then(Value::as_str).unwrap_or_default();
            let alg = Algorithm::try_from(ka)
                .map_err(|_| format!("has an unsupported \"alg\" {name:?}"))?;
            if !public.kind().algorithms().contains(&alg) {
                return Err(format!(
                    "has \"alg\" {name}, which a {} key cannot verify",
                    public.kind().name()
                ));
            }
            Some(alg)
        }
    };
    Ok((jwk, public, alg))
}

const SYMMETRIC: &str = "is a symmetric (oct) key; a JWK Set verifies public keys only";

/// The JWK name of a curve (`P-256`, `Ed25519`).
fn curve_of(c: &EllipticCurve) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{c:?}"))
}

/// Why a JWK that fits none of the crate's key types was not read: its members, as found.
fn unreadable(members: &std::collections::BTreeMap<String, Value>) -> String {
    let text = |k: &str| members.get(k).and_then(Value::as_str);
    let needed: &[&str] = match text("kty") {
        None => return "has no \"kty\" member".into(),
        Some("oct") => return SYMMETRIC.into(),
        Some("RSA") => &["n", "e"],
        Some("EC") => &["crv", "x", "y"],
        Some("OKP") => &["crv", "x"],
        Some(t) => return format!("has an unsupported key type {t:?}"),
    };
    if let Some(m) = needed.iter().find(|m| text(m).is_none()) {
        return format!("has no \"{m}\" member");
    }
    // Every member is there and a string: only the curve can be what the crate did not know.
    let crv = text("crv").unwrap_or_default();
    format!("has an unsupported curve {crv:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let public = PublicKey::Rsa {
            n: URL_SAFE_NO_PAD.decode(n).unwrap(),
            e: vec![1, 0, 1],
        };
        assert_eq!(
            public.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn jwk_sets_skip_unusable_keys_with_a_reason() {
        let (_, ed) = generate(KeyKind::Ed25519).unwrap();
        let good = serde_json::to_value(ed.jwk(Algorithm::EdDSA)).unwrap();
        let with = |k: &str, v: Value| {
            let mut j = good.clone();
            j[k] = v;
            j
        };
        let mut no_kid = with("x", format!("{}=", good["x"].as_str().unwrap()).into());
        no_kid.as_object_mut().unwrap().remove("kid");
        let set = serde_json::json!({"keys": [
            good,
            no_kid,
            with("use", "enc".into()),
            with("key_ops", serde_json::json!(["sign"])),
            with("alg", "ES256".into()),
            with("alg", "RSA-OAEP".into()),
            with("crv", "X25519".into()),
            with("kty", "EC".into()),
            serde_json::json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
            serde_json::json!({"kty": "RSA", "e": "AQAB", "kid": "r"}),
            serde_json::json!({"kty": "oct", "k": "c2VjcmV0"}),
            serde_json::json!({"kty": "dir"}),
            serde_json::json!(3),
        ]});
        let (keys, skipped) = parse_jwks(set.to_string().as_bytes()).unwrap();
        // Without a kid, the key is named by its thumbprint, padding or not.
        let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, [ed.thumbprint(), ed.thumbprint()]);
        let why: Vec<&str> = skipped.iter().map(|s| s.why.as_str()).collect();
        assert_eq!(
            why,
            [
                "key 3 is for \"use\": \"enc\", not signatures",
                "key 4 has key_ops without \"verify\"",
                "key 5 has \"alg\" ES256, which a Ed25519 key cannot verify",
                "key 6 has an unsupported \"alg\" \"RSA-OAEP\"",
                "key 7 has an unsupported curve \"X25519\"",
                "key 8 has no \"y\" member",
                "key 9 has an unsupported curve \"P-521\"",
                "key 10 has no \"n\" member",
                "key 11 is a symmetric (oct) key; a JWK Set verifies public keys only",
                "key 12 has an unsupported key type \"dir\"",
                "key 13 is not a JSON object",
            ]
        );
        assert_eq!(skipped[7].kid.as_deref(), Some("r"));
    }

    #[test]
    fn kinds_accept_only_their_algorithms() {
        assert_eq!(KeyKind::P256.algorithms(), &[Algorithm::ES256]);
        assert_eq!(KeyKind::of(Algorithm::PS384), KeyKind::Rsa);
        assert_eq!(KeyKind::of(Algorithm::ES384), KeyKind::P384);
    }

    #[test]
    fn generated_keys_parse_back_with_the_same_public_key() {
        for kind in [KeyKind::P256, KeyKind::P384, KeyKind::Ed25519] {
            let (pem, public) = generate(kind).unwrap();
            let parsed = parse_pem(pem.as_bytes()).unwrap();
            assert_eq!(parsed.public, public);
            assert!(parsed.private.is_some());
            let spki = public.to_pem().unwrap();
            assert_eq!(parse_pem(spki.as_bytes()).unwrap().public, public);
        }
    }
}
