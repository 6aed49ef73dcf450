//! Free text from the app: which characters a name, an address or a row text may hold. Control
//! characters (Unicode category Cc: NUL, BEL, ESC and with it every ANSI escape sequence, DEL,
//! the C1 range) have no place in accounting data. They break the providers' XML and PDF
//! output, and they can rewrite a terminal that shows a log line. So they are refused, not
//! stripped. Most fields are single-line and refuse every Cc character, tab and line breaks
//! included. A multi-line field (an invoice row's description) also allows TAB, CR and LF.

use super::money::FieldErrors;

/// Whether a field may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// One line: no control character at all.
    Single,
    /// Several lines: TAB, CR and LF are allowed, every other control character is not.
    Multi,
}

/// Whether `c` may appear in a field of the given kind.
pub fn allowed(c: char, lines: Lines) -> bool {
    !c.is_control() || (lines == Lines::Multi && matches!(c, '\t' | '\r' | '\n'))
}

/// The first character `value` may not hold, with its position in characters (from 0).
pub fn first_refused(value: &str, lines: Lines) -> Option<(usize, char)> {
    value.chars().enumerate().find(|(_, c)| !allowed(*c, lines))
}

impl FieldErrors {
    /// A text that must not contain control characters (see [`Lines`]).
    pub fn plain_text(&mut self, field: &str, value: &str, lines: Lines) {
        if let Some((at, c)) = first_refused(value, lines) {
            let allowed = match lines {
                Lines::Single => "",
                Lines::Multi => " other than tab and line breaks",
            };
            self.push(
                field,
                format!(
                    "must not contain control characters{allowed} (U+{:04X} at character {at})",
                    c as u32
                ),
            );
        }
    }

    /// An optional text that must not contain control characters.
    pub fn opt_plain_text(&mut self, field: &str, value: Option<&str>, lines: Lines) {
        if let Some(v) = value {
            self.plain_text(field, v, lines);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refuses_nul_bel_esc_del_and_c1_and_names_the_first() {
        for (text, at, code) in [
            ("Bygg\0AB", 4, 0x00),
            ("ring\x07", 4, 0x07),
            ("\x1b[31mRöd AB", 0, 0x1b),
            ("del\x7f", 3, 0x7f),
            ("c1\u{85}", 2, 0x85),
            ("c1\u{9b}31m", 2, 0x9b),
        ] {
            assert_eq!(
                first_refused(text, Lines::Single),
                Some((at, char::from_u32(code).unwrap())),
                "{text:?}"
            );
            assert_eq!(
                first_refused(text, Lines::Multi),
                Some((at, char::from_u32(code).unwrap())),
                "{text:?}"
            );
        }
        let mut e = FieldErrors::default();
        e.plain_text("name", "A\x1b[2JB", Lines::Single);
        let errs = e.finish().unwrap_err();
        assert_eq!(errs[0].field, "name");
        assert!(
            errs[0].message.contains("U+001B at character 1"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn line_breaks_and_tabs_only_in_multi_line_fields() {
        for t in ["rad 1\nrad 2", "a\r\nb", "kolumn\tkolumn"] {
            assert!(first_refused(t, Lines::Multi).is_none(), "{t:?}");
            assert!(first_refused(t, Lines::Single).is_some(), "{t:?}");
        }
        // Not Cc, so allowed: non-breaking space, Swedish letters, the line separator (Zl).
        for t in ["Åsa Öberg\u{a0}AB", "Ärlig \u{2028} text", ""] {
            assert!(first_refused(t, Lines::Single).is_none(), "{t:?}");
        }
    }

    proptest! {
        /// For any text: refused exactly when it holds a Cc character that the kind of field
        /// does not allow, and the reported character is the first such one.
        #[test]
        fn refused_exactly_when_a_disallowed_control_character_occurs(s in "\\PC*|[\\x00-\\x1f\\x7f-\\u{9f}a-zåäö \\t\\r\\n]{0,40}") {
            for lines in [Lines::Single, Lines::Multi] {
                let bad = s.chars().position(|c| {
                    c.is_control() && !(lines == Lines::Multi && "\t\r\n".contains(c))
                });
                let got = first_refused(&s, lines);
                prop_assert_eq!(got.map(|(at, _)| at), bad);
                if let Some((at, c)) = got {
                    prop_assert_eq!(s.chars().nth(at), Some(c));
                }
                let mut e = FieldErrors::default();
                e.plain_text("f", &s, lines);
                prop_assert_eq!(e.finish().is_err(), bad.is_some());
            }
        }
    }
}
