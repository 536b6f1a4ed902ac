//! Passwords this process was given, known here so that what we print can
//! be checked for them ([`redact`]), and a server's message that quotes
//! part of a statement holding one can be withheld ([`shows_secret`]).
//! The bottom of the layers: errors redact their text with it.

use std::borrow::Cow;
use std::sync::Mutex;

/// Every password [`remember`]ed by this process (of at least
/// [`MIN_REDACTED`] characters: a shorter one would blank out common text).
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The shortest password [`redact`] looks for.
const MIN_REDACTED: usize = 4;

/// What a password is shown as.
pub const PLACEHOLDER: &str = "<secret>";

/// How many characters of a password in a message count as showing it.
const FRAGMENT: usize = 3;

/// Remembers a password, for [`redact`].
pub fn remember(s: &str) {
    if s.chars().count() >= MIN_REDACTED && s != PLACEHOLDER {
        let mut k = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
        if !k.iter().any(|x| x == s) {
            k.push(s.to_string());
            // Longest first: a password that holds another is replaced whole.
            k.sort_by_key(|x| std::cmp::Reverse(x.len()));
        }
    }
}

/// `text` with every password this process knows replaced by `<secret>`:
/// the last guard on what we print (logs, errors, reports, hook output).
pub fn redact(text: &str) -> Cow<'_, str> {
    let k = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    if !k.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    // One pass, longest first at each place: a placeholder put in is never
    // searched again (a password may be a part of "<secret>").
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match k.iter().find(|s| rest.starts_with(s.as_str())) {
            Some(s) => {
                out.push_str(PLACEHOLDER);
                rest = &rest[s.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    Cow::Owned(out)
}

/// `message` with every piece of `secret` in it ([`FRAGMENT`] characters
/// or more, or the whole of a shorter one) replaced by `<secret>`: a
/// server's error may quote a statement from where it failed, inside the
/// password, or the password's start (a value too long).
pub fn hide_pieces<'m>(message: &'m str, secret: &str) -> Cow<'m, str> {
    let n = FRAGMENT.min(secret.chars().count());
    if n == 0 {
        return Cow::Borrowed(message);
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    let mut hid = false;
    while let Some(c) = rest.chars().next() {
        // The longest start of `rest` that is a piece of the secret.
        let longest = rest
            .char_indices()
            .map(|(i, ch)| i + ch.len_utf8())
            .take_while(|&end| secret.contains(&rest[..end]))
            .last()
            .filter(|&end| rest[..end].chars().count() >= n);
        match longest {
            Some(end) => {
                if !out.ends_with(PLACEHOLDER) {
                    out.push_str(PLACEHOLDER);
                }
                rest = &rest[end..];
                hid = true;
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if hid { Cow::Owned(out) } else { Cow::Borrowed(message) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_holding_another_is_replaced_whole() {
        remember("abcd-short");
        remember("abcd-short-and-longer");
        assert_eq!(redact("x abcd-short-and-longer y abcd-short"), "x <secret> y <secret>");
    }

    #[test]
    fn known_passwords_are_redacted() {
        remember("it's\\a'pw-redact-test");
        assert_eq!(redact("denied: it's\\a'pw-redact-test!"), "denied: <secret>!");
        assert_eq!(redact("nothing here"), "nothing here");
    }

    #[test]
    fn pieces_of_a_password_are_hidden() {
        // The statement holds the password as an escaped literal.
        assert_eq!(hide_pieces("near 'a\\'pw' at line 1", r"it\'s\\a\'pw"), "near '<secret>' at line 1");
        assert_eq!(
            hide_pieces("String 'Q7v-xyz-pw' is too long for MASTER_PASSWORD", "Q7v-xyz-pwQ7v-xyz-pw"),
            "String '<secret>' is too long for MASTER_PASSWORD"
        );
        assert_eq!(hide_pieces("near 'ab'", "ab"), "near '<secret>'");
        assert_eq!(hide_pieces("Unknown system variable 'x'", "s3cr3t"), "Unknown system variable 'x'");
        assert_eq!(hide_pieces("anything", ""), "anything");
    }
}
