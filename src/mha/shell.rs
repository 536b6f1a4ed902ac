//! MHA's shell escaping of MySQL accounts, reproduced exactly.
//!
//! The manager sends `--slave_user=<escape_for_shell(user)>` and
//! `--slave_pass=<escape_for_shell(password)>` inside a double-quoted ssh
//! command. `escape_for_shell` single-quotes the value, writes `'` as
//! `'\''`, doubles `\`, and puts a `\` before each of
//! ``" ! # & ; ` | * ? ~ < > ^ ( ) [ ] { } $ , space``. After the local
//! shell (double quotes: `\$` `\"` `` \` `` `\\` lose their backslash) and
//! the remote one (single quotes), the node sees the value with a stray `\`
//! before most of those characters, and `unescape_for_shell` strips them.
//!
//! Quirks kept on purpose, so a Rust node accepts exactly the passwords a
//! Perl node accepts:
//! - a value that *starts* with two backslashes is returned unchanged
//!   (`!index($str, '\\\\')` is true only at index 0);
//! - the characters are unescaped one after another, each in one
//!   left-to-right pass;
//! - the list's last two entries are the four-character strings `\x0A` and
//!   `\xFF` (single-quoted in Perl), not a newline and a 0xFF byte;
//! - a password containing `\` followed by one of the characters cannot
//!   survive the round trip (MHA loses it too).

/// MHA's `@shell_escape_chars`, in MHA's order.
pub const SHELL_ESCAPE_CHARS: [&str; 24] = [
    "\"", "!", "#", "&", ";", "`", "|", "*", "?", "~", "<", ">", "^", "(", ")", "[", "]", "{", "}", "$", ",", " ",
    "\\x0A", "\\xFF",
];

/// MHA's `escape_for_shell`: what the manager puts on the node's command line.
pub fn escape_for_shell(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    out.push('\'');
    for c in s.chars() {
        let mut buf = [0u8; 4];
        let cs: &str = c.encode_utf8(&mut buf);
        if SHELL_ESCAPE_CHARS.contains(&cs) {
            out.push('\\');
        }
        match c {
            '\'' => out.push_str("'\\''"),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// MHA's `unescape_for_shell`: what the node makes of the value it received.
pub fn unescape_for_shell(s: &str) -> String {
    if s.starts_with("\\\\") {
        return s.to_string();
    }
    let mut cur = s.to_string();
    for c in SHELL_ESCAPE_CHARS {
        let pat = format!("\\{c}");
        if cur.contains(&pat) {
            // One left-to-right pass, non-overlapping: Perl's s/\\(c)/$1/g.
            cur = cur.replace(&pat, c);
        }
    }
    cur
}

/// The account value the node uses (`escape_for_mysql` in
/// `apply_diff_relay_logs`: a false value — empty or `0` — is used as is,
/// anything else is unescaped).
pub fn account_value(received: &str) -> String {
    if super::getopt::perl_true(received) { unescape_for_shell(received) } else { received.to_string() }
}

pub use crate::remote::{sh_quote, split_words};

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const NASTY: &[&str] = &[
        "adminpass",
        "p a s s",
        "it's",
        "\"quoted\"",
        "$HOME",
        "`id`",
        "a;b|c&d",
        "*?~<>^()[]{},",
        "#!",
        "x'y\"z$w",
        "trailing\\",
        "a\\b",
        "ünïcödé pässwörd",
        "tab\there",
        "100%",
        "-dash",
        "=eq=",
    ];

    #[test]
    fn escape_matches_mha() {
        assert_eq!(escape_for_shell("admin"), "'admin'");
        assert_eq!(escape_for_shell("p a$s"), "'p\\ a\\$s'");
        assert_eq!(escape_for_shell("it's"), "'it'\\''s'");
        assert_eq!(escape_for_shell("a\\b"), "'a\\\\b'");
        assert_eq!(escape_for_shell("x,y"), "'x\\,y'");
    }

    #[test]
    fn unescape_quirks() {
        assert_eq!(unescape_for_shell("p\\ a$s"), "p a$s");
        assert_eq!(unescape_for_shell("\\\\ x"), "\\\\ x", "starts with two backslashes: unchanged");
        assert_eq!(unescape_for_shell("a\\\\x0A"), "a\\x0A", "the literal \\x0A entry");
        assert_eq!(unescape_for_shell("a\\\"b"), "a\"b");
        assert_eq!(unescape_for_shell("plain"), "plain");
        assert_eq!(account_value("0"), "0");
        assert_eq!(account_value(""), "");
    }

    /// The manager's path: escape, wrap in the double-quoted ssh command,
    /// through a local and a remote shell, then our unescape.
    fn through_two_shells(pw: &str) -> String {
        let escaped = escape_for_shell(pw);
        // ssh <opts> host "printf '%s' --slave_pass=<escaped>": the local
        // shell handles the double quotes, the remote shell the rest.
        let local = format!("sh -c \"printf '%s' --slave_pass={escaped}\"");
        let out = std::process::Command::new("sh").arg("-c").arg(&local).output().unwrap();
        assert!(out.status.success(), "{local}");
        let got = String::from_utf8(out.stdout).unwrap();
        account_value(got.strip_prefix("--slave_pass=").unwrap())
    }

    #[test]
    fn round_trip_through_the_managers_shells() {
        for pw in NASTY {
            let lossy = pw.contains('\\');
            let back = through_two_shells(pw);
            if !lossy {
                assert_eq!(&back, pw, "password {pw:?}");
            }
        }
        // MHA's known loss: a backslash before an escaped character.
        assert_eq!(through_two_shells("\\$x"), "$x");
        // A backslash before an ordinary character survives.
        assert_eq!(through_two_shells("a\\b"), "a\\b");
    }
}
