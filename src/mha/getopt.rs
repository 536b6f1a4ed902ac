//! Command-line parsing as Perl's `Getopt::Long::GetOptions` (default
//! configuration) does it for MHA's node tools, so the manager's command
//! lines, and people's habits with them, mean the same thing:
//!
//! - `--name=value`, `--name value`, `-name` (one dash works too);
//! - names are case-insensitive and may be abbreviated to any unique prefix
//!   (an exact name always wins);
//! - `=s` takes the next argument even when it starts with `-`; an empty
//!   `--name=` is "requires an argument";
//! - `=i` takes `[-+]?[0-9]+` only;
//! - a flag given a value (`--debug=0`) is an error;
//! - non-option arguments are kept aside (MHA ignores them); `--` ends options;
//! - the last occurrence wins;
//! - every error is reported (on stderr, in GetOptions' words) and parsing
//!   goes on, so the caller prints usage and exits 1 as `pod2usage(1)` does.

use std::collections::BTreeMap;

/// What an option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// No value (`help`, `debug`).
    Flag,
    /// A string (`=s`).
    Str,
    /// An integer (`=i`).
    Int,
}

/// One option of a tool.
pub type Spec = (&'static str, Kind);

/// Parsed options.
#[derive(Clone, Debug, Default)]
pub struct Opts {
    values: BTreeMap<&'static str, String>,
    /// Arguments that were not options.
    pub rest: Vec<String>,
}

impl Opts {
    /// The raw value of an option, if given (a flag's value is `"1"`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether a flag (or any option) was given.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Perl's `$opt{x} ||= default`: an absent, empty or `0` value gives the default.
    pub fn or(&self, name: &str, default: &str) -> String {
        match self.get(name) {
            Some(v) if perl_true(v) => v.to_string(),
            _ => default.to_string(),
        }
    }

    /// A value that Perl would see as true (`unless ($opt{x})` is false for it).
    pub fn truthy(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| perl_true(v))
    }

    /// An integer option (already validated at parse time).
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).map(|v| v.parse().unwrap_or(0))
    }

    /// Sets a value (defaults computed by the caller).
    pub fn set(&mut self, name: &'static str, v: impl Into<String>) {
        self.values.insert(name, v.into());
    }
}

/// Perl truth for a string: not `""` and not `"0"`.
pub fn perl_true(s: &str) -> bool {
    !s.is_empty() && s != "0"
}

fn is_int(s: &str) -> bool {
    let d = s.strip_prefix(['-', '+']).unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

/// Normalises an integer as Perl stores it (`+5` → `5`, `04` → `4`).
fn int_value(s: &str) -> String {
    match s.parse::<i128>() {
        Ok(n) => n.to_string(),
        Err(_) => s.to_string(),
    }
}

fn lookup(specs: &[Spec], name: &str) -> Result<Spec, String> {
    let lower = name.to_ascii_lowercase();
    if let Some(s) = specs.iter().find(|(n, _)| *n == lower) {
        return Ok(*s);
    }
    let hits: Vec<&Spec> = specs.iter().filter(|(n, _)| n.starts_with(&lower)).collect();
    match hits.as_slice() {
        [one] => Ok(**one),
        [] => Err(format!("Unknown option: {lower}")),
        many => Err(format!(
            "Option {lower} is ambiguous ({})",
            many.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Parses `args` (without argv[0]). `Err` carries every error message, one
/// per line, in GetOptions' words; the caller prints usage and exits 1.
pub fn parse(specs: &[Spec], args: &[String]) -> Result<Opts, Vec<String>> {
    let mut o = Opts::default();
    let mut errors = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            o.rest.extend(args[i..].iter().cloned());
            break;
        }
        let body = match a.strip_prefix("--").or_else(|| a.strip_prefix('-')) {
            Some(b) if !b.is_empty() && a != "-" => b,
            _ => {
                o.rest.push(a.clone());
                continue;
            }
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let (canon, kind) = match lookup(specs, name) {
            Ok(s) => s,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match kind {
            Kind::Flag => {
                if inline.is_some() {
                    errors.push(format!("Option {canon} does not take an argument"));
                } else {
                    o.values.insert(canon, "1".into());
                }
            }
            Kind::Str | Kind::Int => {
                let v = match inline {
                    Some("") => {
                        errors.push(format!("Option {canon} requires an argument"));
                        continue;
                    }
                    Some(v) => v.to_string(),
                    None => {
                        let next = args.get(i);
                        // An =i option does not swallow a following option.
                        let usable = match (kind, next) {
                            (_, None) => false,
                            (Kind::Int, Some(n)) => !n.starts_with('-') || is_int(n),
                            _ => true,
                        };
                        if !usable {
                            errors.push(format!("Option {canon} requires an argument"));
                            continue;
                        }
                        i += 1;
                        next.cloned().unwrap_or_default()
                    }
                };
                if kind == Kind::Int {
                    if !is_int(&v) {
                        errors.push(format!("Value \"{v}\" invalid for option {canon} (number expected)"));
                        continue;
                    }
                    o.values.insert(canon, int_value(&v));
                } else {
                    o.values.insert(canon, v);
                }
            }
        }
    }
    if errors.is_empty() { Ok(o) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[Spec] = &[
        ("help", Kind::Flag),
        ("version", Kind::Flag),
        ("command", Kind::Str),
        ("current_relay_log", Kind::Str),
        ("start_pos", Kind::Int),
        ("no_apply", Kind::Flag),
        ("slave_pass", Kind::Str),
        ("debug", Kind::Flag),
    ];

    fn p(args: &str) -> Result<Opts, Vec<String>> {
        parse(SPECS, &args.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    // Each case was checked against perl's Getopt::Long (5.36).
    #[test]
    fn behaves_like_getopt_long() {
        assert_eq!(p("--comm=save").unwrap().get("command"), Some("save"));
        assert_eq!(p("--COMMAND=save").unwrap().get("command"), Some("save"));
        assert_eq!(p("-command=save").unwrap().get("command"), Some("save"));
        assert_eq!(p("--command --start_pos=4").unwrap().get("command"), Some("--start_pos=4"));
        assert_eq!(p("--slave_pass -x").unwrap().get("slave_pass"), Some("-x"));
        assert_eq!(p("--command=a=b").unwrap().get("command"), Some("a=b"));
        assert_eq!(p("--cur=x").unwrap().get("current_relay_log"), Some("x"));
        assert_eq!(p("--start_pos=+5").unwrap().get("start_pos"), Some("5"));
        assert_eq!(p("--start_pos=04").unwrap().get("start_pos"), Some("4"));
        assert_eq!(p("--start_pos=-5").unwrap().get("start_pos"), Some("-5"));
        assert_eq!(p("--start_pos 5 --start_pos 6").unwrap().get("start_pos"), Some("6"));
        assert!(p("--h").unwrap().has("help"));
        assert!(p("-debug").unwrap().has("debug"));
        let o = p("x --command=a y").unwrap();
        assert_eq!(o.rest, ["x", "y"]);
        assert_eq!(p("-- --command=a").unwrap().rest, ["--command=a"]);
        let err = |s| p(s).unwrap_err().join("\n");
        assert_eq!(err("--foo"), "Unknown option: foo");
        assert_eq!(err("--c=1"), "Option c is ambiguous (command, current_relay_log)");
        assert_eq!(err("--command"), "Option command requires an argument");
        assert_eq!(err("--slave_pass="), "Option slave_pass requires an argument");
        assert_eq!(err("--version=1"), "Option version does not take an argument");
        assert_eq!(err("--debug=0"), "Option debug does not take an argument");
        assert_eq!(err("--start_pos abc"), "Value \"abc\" invalid for option start_pos (number expected)");
        assert_eq!(err("--start_pos=4.5"), "Value \"4.5\" invalid for option start_pos (number expected)");
        assert_eq!(err("--start_pos=0x10"), "Value \"0x10\" invalid for option start_pos (number expected)");
        assert_eq!(err("--no-apply"), "Unknown option: no-apply");
        assert_eq!(err("---command=x"), "Unknown option: -command");
    }

    #[test]
    fn perl_defaults() {
        let o = p("--slave_pass=0 --command=").unwrap_err();
        assert_eq!(o, ["Option command requires an argument"]);
        let o = p("--slave_pass=0").unwrap();
        assert_eq!(o.or("slave_pass", ""), "", "||= treats 0 as false");
        assert_eq!(o.or("command", "x"), "x");
    }
}
