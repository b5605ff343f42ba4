//! Random identifiers from the operating system's CSPRNG.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `N` random bytes. If the OS generator ever fails the process aborts: handing out
/// predictable token ids or salts would be worse than stopping.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if let Err(err) = getrandom::fill(&mut buf) {
        tracing::error!(%err, "the operating system's random generator failed");
        std::process::abort();
    }
    buf
}

/// 16 random bytes, base64url without padding (a `jti`, a `sid`).
pub(crate) fn id() -> String {
    URL_SAFE_NO_PAD.encode(bytes::<16>())
}

/// 32 random bytes, base64url without padding (a refresh token).
#[cfg(feature = "store")]
pub(crate) fn long_id() -> String {
    URL_SAFE_NO_PAD.encode(bytes::<32>())
}
