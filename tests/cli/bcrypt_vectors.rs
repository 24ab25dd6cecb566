//! Known bcrypt vectors: jwtauth hashes with a patched `blowfish` (vendor/blowfish), so the
//! hashes must stay byte-identical to everyone else's. The vectors are those of OpenBSD's and
//! Solar Designer's crypt_blowfish test suites and pyca/bcrypt's tests; the 72-byte ones were
//! also checked against libxcrypt (C crypt_blowfish) and pyca/bcrypt.

use std::str::FromStr;

use bcrypt::{HashParts, Version};

/// (password, full hash)
const VECTORS: &[(&[u8], &str)] = &[
    // crypt_blowfish / OpenBSD
    (
        b"U*U",
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
    ),
    (
        b"U*U*",
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK",
    ),
    (
        b"U*U*U",
        "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a",
    ),
    (
        b"\xa3",
        "$2a$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq",
    ),
    (
        b"\xa3",
        "$2y$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq",
    ),
    (
        b"\xff\xff\xa3",
        "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
    ),
    (
        b"\xff\xff\xa3",
        "$2b$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
    ),
    // 72 bytes: the whole password is used, with no terminating NUL
    (
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
    ),
    (
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "$2b$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
    ),
    (
        &[0xaa; 72],
        "$2a$05$/OK.fbVrR/bpIqNJ5ianF.swQOIzjOiJ9GHEPuhEkvqrUyvWhEMx6",
    ),
    (
        &[0xaa; 72],
        "$2y$05$/OK.fbVrR/bpIqNJ5ianF.swQOIzjOiJ9GHEPuhEkvqrUyvWhEMx6",
    ),
    (
        &[0xaa; 71],
        "$2b$05$/OK.fbVrR/bpIqNJ5ianF.RWwf6zT2Q2MQWhjRLd9KZVnoiYVlKYG",
    ),
    // pyca/bcrypt
    (
        b"Kk4DQuMMfZL9o",
        "$2b$04$cVWp4XaNU8a4v1uMRum2SO026BWLIoQMD/TXg5uZV.0P.uO8m3YEm",
    ),
    (
        b"9IeRXmnGxMYbs",
        "$2b$04$pQ7gRO7e6wx/936oXhNjrOUNOHL1D0h1N2IDbJZYs.1ppzSof6SPy",
    ),
    (
        b"J8eHUDuxBB520",
        "$2b$04$VvlCUKbTMjaxaYJ.k5juoecpG/7IzcH1AkmqKi.lIZMVIOLClWAk.",
    ),
    (
        b"g7\r\x01\xf3\xd4\xd0\xa9JB^\x18\x007P\xb2N\xc7\x1c\xee\x87&\x83C\
          \x8b\xe8\x18\xc5>\x86\x14/\xd6\xcc\x1cJ\xde\xd7ix\xeb\xdeO\xef\
          \xe1i\xac\xcb\x03\x96v1' \xd6@.m\xa5!\xa0\xef\xc0(",
        "$2a$04$tecY.9ylRInW/rAAzXCXPOOlyYeCNzmNTzPDNSIFztFMKbvs/s5XG",
    ),
    (
        b"}>\xb3\xfe\xf1\x8b\xa0\xe6(\xa2Lzq\xc3P\x7f\xcc\xc8b{\xf9\x14\xf6\
          \xf6`\x81G5\xec\x1d\x87\x10\xbf\xa7\xe1}I7 \x96\xdfc\xf2\xbf\xb3Vh\
          \xdfM\x88q\xf7\xff\x1b\x82~z\x13\xdd\xe9\x84\x00\xdd4",
        "$2b$10$keO.ZZs22YtygVF6BLfhGOI/JjshJYPp8DZsUtym6mJV2Eha2Hdd.",
    ),
];

fn version(hash: &str) -> Version {
    match &hash[..4] {
        "$2a$" => Version::TwoA,
        "$2b$" => Version::TwoB,
        "$2y$" => Version::TwoY,
        other => panic!("no vector uses {other}"),
    }
}

#[test]
fn hashing_with_the_vectors_salt_gives_the_vectors_hash() {
    for &(password, expected) in VECTORS {
        let parts = HashParts::from_str(expected).unwrap();
        let ours = bcrypt::hash_with_salt(password, parts.get_cost(), parts.get_salt_raw())
            .unwrap()
            .format_for_version(version(expected));
        assert_eq!(ours, expected, "password {password:x?}");
    }
}

#[test]
fn the_vectors_verify_and_a_changed_password_does_not() {
    for &(password, hash) in VECTORS {
        assert!(bcrypt::verify(password, hash).unwrap(), "{hash}");
        let mut other = password.to_vec();
        other[0] ^= 1;
        assert!(!bcrypt::verify(&other, hash).unwrap(), "{hash}");
    }
}

#[test]
fn the_vector_lengths_are_what_their_comments_say() {
    let lengths: Vec<usize> = VECTORS.iter().map(|(p, _)| p.len()).collect();
    assert_eq!(&lengths[7..12], [72, 72, 72, 72, 71]);
    assert_eq!(&lengths[15..], [64, 64]);
}
