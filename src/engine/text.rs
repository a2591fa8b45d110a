//! Text from outside (task output, fields of messages from the network) made safe
//! to print on a terminal.

/// `c` would change how the terminal shows what follows it: a control character
/// (escape sequences, carriage returns; tab excepted) or an invisible Unicode
/// format character (bidirectional marks, overrides and isolates, zero-width
/// characters, line and paragraph separators, the byte order mark), which can
/// make text read as something else.
pub fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// `s` with every character [`unsafe_char`] names shown as `\u{..}`, so it cannot
/// rewrite the terminal or hide what it says.
pub fn printable(s: &str) -> String {
    if !s.chars().any(unsafe_char) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if unsafe_char(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escapes_and_invisible_overrides_are_shown_not_obeyed() {
        assert_eq!(printable("plain\ttext é"), "plain\ttext é");
        assert_eq!(printable("a\x1b[31mb\rc"), "a\\u{1b}[31mb\\u{d}c");
        assert_eq!(
            printable("x\u{202e}evil\u{200b}"),
            "x\\u{202e}evil\\u{200b}"
        );
    }
}

/// Decodes `%XX` escapes (a NATS password may hold `@` or `:` written as `%40`,
/// `%3A`; a `dag ui` path, any character); a `%` not followed by two hex digits
/// stays as it is, and bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod percent_tests {
    use super::percent_decode;

    #[test]
    fn escapes_decode_and_anything_else_stays() {
        assert_eq!(percent_decode("a%40b%3Ac"), "a@b:c");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz"), "%zz");
        // A multi-byte character after a `%` is kept whole (no slicing inside it).
        assert_eq!(percent_decode("%aé"), "%aé");
        assert_eq!(percent_decode("%é"), "%é");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
        assert_eq!(percent_decode("%E2%9C%93"), "✓");
    }
}

/// A duration such as `500ms`, `30s`, `10m`, `1h30m` or `2d`, or what is wrong
/// with it in dag's own words (the one reading of durations: the file format, the
/// command line, the built-in functions).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    use humantime::DurationError as E;
    humantime::parse_duration(s.trim()).map_err(|e| match e {
        E::Empty => "it is empty".to_string(),
        E::UnknownUnit { unit, .. } if unit.is_empty() => {
            "a number needs a unit, e.g. 30s or 500ms".to_string()
        }
        E::UnknownUnit { unit, .. } => format!(
            "`{}` is not a unit of time (ms, s, m, h, d, ...)",
            printable(&unit)
        ),
        E::NumberExpected(_) => "a duration starts with a number, e.g. 30s".to_string(),
        E::InvalidCharacter(at) => {
            let c = s.trim().get(at..).and_then(|r| r.chars().next());
            format!(
                "`{}` cannot be part of a duration",
                printable(&c.map(String::from).unwrap_or_default())
            )
        }
        E::NumberOverflow => "it is too large".to_string(),
    })
}

#[cfg(test)]
mod duration_tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_and_their_errors_speak_plainly() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 500ms "), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration(""), Err("it is empty".to_string()));
        assert_eq!(
            parse_duration("10"),
            Err("a number needs a unit, e.g. 30s or 500ms".to_string())
        );
        assert_eq!(
            parse_duration("5 parsecs"),
            Err("`parsecs` is not a unit of time (ms, s, m, h, d, ...)".to_string())
        );
        assert_eq!(
            parse_duration("forever"),
            Err("a duration starts with a number, e.g. 30s".to_string())
        );
        assert_eq!(
            parse_duration("5s!"),
            Err("`!` cannot be part of a duration".to_string())
        );
        assert_eq!(
            parse_duration("99999999999999999999999h"),
            Err("it is too large".to_string())
        );
    }
}

/// `bytes` in lowercase hexadecimal (digests, as stores and messages carry them).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}
