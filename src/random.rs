//! The OS random number generator, for token ids and key material. A leaf (but `error`).

use crate::error::{Error, Result};

/// Fills `buf` from the OS random number generator.
///
/// # Errors
/// Exit 8 when the generator fails.
pub fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::internal("random number generator", e))
}
