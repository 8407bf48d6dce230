//! Secure random bytes from the operating system (getrandom(2)): SASL nonces, salts,
//! keys. The one place outside storage that reaches for randomness, so a simulator can
//! replace it.

/// Fills `buf` with random bytes. The kernel's generator does not fail once seeded; if
/// it ever does, there is no safe fallback for security material, so this aborts the
/// process rather than hand out predictable bytes.
pub fn fill(buf: &mut [u8]) {
    if let Err(error) = getrandom::getrandom(buf) {
        // No nonce is better than a predictable one: stop here.
        eprintln!("moxide: the operating system's random generator failed: {error}");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_differ() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        fill(&mut a);
        fill(&mut b);
        assert_ne!(a, b);
    }
}
