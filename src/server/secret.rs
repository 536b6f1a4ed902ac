//! A password as a type: [`Secret`] never shows it in `Debug`, and every
//! one made is remembered by [`crate::secret`], so that what we print is
//! checked for it.

use std::fmt;

/// A password. `Debug` never shows it; it is remembered for
/// [`crate::secret::redact`].
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Secret {
        let s = s.into();
        crate::secret::remember(&s);
        Secret(s)
    }
    /// The password itself, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_secret_is_not_shown_and_is_redacted() {
        let s = super::Secret::new("s3cret-of-a-test");
        assert_eq!(format!("{s:?}"), "<secret>");
        assert_eq!(crate::secret::redact("pw s3cret-of-a-test"), "pw <secret>");
    }
}
