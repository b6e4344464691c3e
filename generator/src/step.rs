//! ISO-10303-21 (STEP physical file) output: instance numbering, attribute formatting,
//! string escaping and the fixed header. Knows nothing about buildings.

use crate::guid::GuidSource;
use std::fmt::Write as _;
use std::io::{self, Write};

/// A STEP instance name (`#id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Id(pub(crate) u64);

/// Writes instances one line each, numbering them `#1, #2, …` in order of emission.
#[derive(Debug)]
pub(crate) struct StepWriter<W: Write> {
    out: W,
    next_id: u64,
    bytes: u64,
    line: String,
    guids: GuidSource,
}

impl<W: Write> StepWriter<W> {
    pub(crate) fn new(out: W, seed: u64) -> Self {
        Self {
            out,
            next_id: 1,
            bytes: 0,
            line: String::with_capacity(256),
            guids: GuidSource::new(seed),
        }
    }

    /// Writes the header section and opens the data section.
    pub(crate) fn header(&mut self, file_name: &str, description: &str) -> io::Result<()> {
        let mut text = String::new();
        text.push_str("ISO-10303-21;\nHEADER;\n");
        // Fixed timestamp: same config, same bytes.
        let _ = writeln!(
            text,
            "FILE_DESCRIPTION(('ViewDefinition [ReferenceView_V1.2]',{}),'2;1');",
            quote(description)
        );
        let _ = writeln!(
            text,
            "FILE_NAME({},'2000-01-01T00:00:00',('renewtwin'),('renewtwin'),{},'renewtwin-generator','');",
            quote(file_name),
            quote(concat!("renewtwin-generator ", env!("CARGO_PKG_VERSION"))),
        );
        text.push_str("FILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n");
        self.raw(&text)
    }

    /// Closes the data section and the file, and flushes.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        self.raw("ENDSEC;\nEND-ISO-10303-21;\n")?;
        self.out.flush()
    }

    fn raw(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.bytes += text.len() as u64;
        Ok(())
    }

    /// Writes one instance `#n=KEYWORD(args);` and returns its id.
    pub(crate) fn entity(
        &mut self,
        keyword: &str,
        args: impl FnOnce(&mut Args<'_>),
    ) -> io::Result<Id> {
        let id = Id(self.next_id);
        self.next_id += 1;
        self.line.clear();
        let _ = write!(self.line, "#{}={}(", id.0, keyword);
        {
            let mut a = Args {
                buf: &mut self.line,
                first: true,
                guids: &mut self.guids,
            };
            args(&mut a);
        }
        self.line.push_str(");\n");
        debug_assert!(
            self.line.is_ascii(),
            "step output must be ascii: {}",
            self.line
        );
        self.out.write_all(self.line.as_bytes())?;
        self.bytes += self.line.len() as u64;
        Ok(id)
    }

    /// Instances written so far.
    pub(crate) fn entities(&self) -> u64 {
        self.next_id - 1
    }

    /// Bytes written so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// The attribute list of one instance being written; each call appends one attribute.
#[derive(Debug)]
pub(crate) struct Args<'a> {
    buf: &'a mut String,
    first: bool,
    guids: &'a mut GuidSource,
}

impl Args<'_> {
    fn sep(&mut self) -> &mut String {
        if !self.first {
            self.buf.push(',');
        }
        self.first = false;
        self.buf
    }

    /// A fresh GlobalId.
    pub(crate) fn guid(&mut self) -> &mut Self {
        let guid = self.guids.next_guid();
        let buf = self.sep();
        buf.push('\'');
        buf.extend(guid.iter().map(|&b| char::from(b)));
        buf.push('\'');
        self
    }

    /// `$`: an unset optional attribute.
    pub(crate) fn null(&mut self) -> &mut Self {
        self.sep().push('$');
        self
    }

    /// `*`: an attribute derived in a subtype.
    pub(crate) fn derived(&mut self) -> &mut Self {
        self.sep().push('*');
        self
    }

    pub(crate) fn id(&mut self, id: Id) -> &mut Self {
        let _ = write!(self.sep(), "#{}", id.0);
        self
    }

    pub(crate) fn opt_id(&mut self, id: Option<Id>) -> &mut Self {
        match id {
            Some(id) => self.id(id),
            None => self.null(),
        }
    }

    /// A list of references `(#1,#2)`.
    pub(crate) fn ids<'i>(&mut self, ids: impl IntoIterator<Item = &'i Id>) -> &mut Self {
        let buf = self.sep();
        buf.push('(');
        for (i, id) in ids.into_iter().enumerate() {
            if i > 0 {
                buf.push(',');
            }
            let _ = write!(buf, "#{}", id.0);
        }
        buf.push(')');
        self
    }

    /// A quoted, escaped string.
    pub(crate) fn str(&mut self, text: &str) -> &mut Self {
        let buf = self.sep();
        push_quoted(buf, text);
        self
    }

    pub(crate) fn opt_str(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => self.str(text),
            None => self.null(),
        }
    }

    pub(crate) fn real(&mut self, value: f64) -> &mut Self {
        let buf = self.sep();
        push_real(buf, value);
        self
    }

    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        let _ = write!(self.sep(), "{value}");
        self
    }

    /// A list of reals `(1.,2.5)`.
    pub(crate) fn reals(&mut self, values: &[f64]) -> &mut Self {
        let buf = self.sep();
        buf.push('(');
        for (i, &v) in values.iter().enumerate() {
            if i > 0 {
                buf.push(',');
            }
            push_real(buf, v);
        }
        buf.push(')');
        self
    }

    /// A list of integers `(39,54,0)`.
    pub(crate) fn ints(&mut self, values: &[i64]) -> &mut Self {
        let buf = self.sep();
        buf.push('(');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                buf.push(',');
            }
            let _ = write!(buf, "{v}");
        }
        buf.push(')');
        self
    }

    /// An enumeration value `.NAME.`.
    pub(crate) fn enumeration(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.sep(), ".{name}.");
        self
    }

    /// A BOOLEAN/LOGICAL `.T.`/`.F.`.
    pub(crate) fn boolean(&mut self, value: bool) -> &mut Self {
        self.sep().push_str(if value { ".T." } else { ".F." });
        self
    }

    /// A typed (select) value such as `IFCLABEL('x')`, whose inner text is already formatted.
    pub(crate) fn typed(&mut self, keyword: &str, inner: impl FnOnce(&mut String)) -> &mut Self {
        let buf = self.sep();
        buf.push_str(keyword);
        buf.push('(');
        inner(buf);
        buf.push(')');
        self
    }
}

/// Appends `text` as a STEP string literal: apostrophes and backslashes doubled, anything
/// outside printable ASCII written as `\X2\` UTF-16 hex runs closed by `\X0\`.
pub(crate) fn push_quoted(buf: &mut String, text: &str) {
    buf.push('\'');
    let mut in_x2 = false;
    for ch in text.chars() {
        let printable = (' '..='~').contains(&ch);
        if printable && in_x2 {
            buf.push_str("\\X0\\");
            in_x2 = false;
        }
        match ch {
            '\'' => buf.push_str("''"),
            '\\' => buf.push_str("\\\\"),
            _ if printable => buf.push(ch),
            _ => {
                if !in_x2 {
                    buf.push_str("\\X2\\");
                    in_x2 = true;
                }
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    let _ = write!(buf, "{unit:04X}");
                }
            }
        }
    }
    if in_x2 {
        buf.push_str("\\X0\\");
    }
    buf.push('\'');
}

/// `text` as a STEP string literal.
pub(crate) fn quote(text: &str) -> String {
    let mut buf = String::with_capacity(text.len() + 2);
    push_quoted(&mut buf, text);
    buf
}

/// Appends a STEP REAL: always with a decimal point, at most six decimals (micrometres),
/// trailing zeros trimmed, no negative zero. Deterministic on every platform.
pub(crate) fn push_real(buf: &mut String, value: f64) {
    debug_assert!(value.is_finite(), "non-finite real in generated geometry");
    let value = if value.is_finite() { value } else { 0.0 };
    let start = buf.len();
    let _ = write!(buf, "{value:.6}");
    while buf.ends_with('0') {
        buf.pop();
    }
    if &buf[start..] == "-0." {
        buf.truncate(start);
        buf.push_str("0.");
    }
}

/// Decodes a STEP string literal's body (without the quotes): the inverse of [`push_quoted`]
/// for the escapes it writes.
#[cfg(test)]
pub(crate) fn unquote(body: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = body;
    while let Some(ch) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("\\X2\\") {
            let end = after.find("\\X0\\")?;
            let hex = &after[..end];
            let units: Option<Vec<u16>> = (0..hex.len() / 4)
                .map(|i| u16::from_str_radix(hex.get(4 * i..4 * i + 4)?, 16).ok())
                .collect();
            out.push_str(&String::from_utf16(&units?).ok()?);
            rest = &after[end + 4..];
        } else if let Some(after) = rest.strip_prefix("\\\\") {
            out.push('\\');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("''") {
            out.push('\'');
            rest = after;
        } else {
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_names_are_written_as_utf16_hex_and_round_trip() {
        let name = "1号楼 南外墙";
        let quoted = quote(name);
        assert_eq!(quoted, "'1\\X2\\53F7697C\\X0\\ \\X2\\535759165899\\X0\\'");
        assert!(quoted.is_ascii());
        assert_eq!(unquote(&quoted[1..quoted.len() - 1]).as_deref(), Some(name));
    }

    #[test]
    fn apostrophes_backslashes_and_astral_characters_round_trip() {
        for name in [
            "O'Brien's 单元",
            "C:\\path\\x",
            "emoji 🏠 end",
            "",
            "''",
            "tab\there",
        ] {
            let quoted = quote(name);
            assert!(quoted.is_ascii(), "{quoted}");
            assert_eq!(
                unquote(&quoted[1..quoted.len() - 1]).as_deref(),
                Some(name),
                "{quoted}"
            );
        }
        assert_eq!(quote("O'Brien"), "'O''Brien'");
        assert_eq!(quote("🏠"), "'\\X2\\D83CDFE0\\X0\\'");
    }

    #[test]
    fn reals_always_carry_a_decimal_point_and_no_negative_zero() {
        let cases = [
            (0.0, "0."),
            (-0.0, "0."),
            (1.0, "1."),
            (2.5, "2.5"),
            (-0.0000001, "0."),
            (1e-5, "0.00001"),
            (123456.789, "123456.789"),
        ];
        for (value, expected) in cases {
            let mut buf = String::new();
            push_real(&mut buf, value);
            assert_eq!(buf, expected, "{value}");
        }
    }

    #[test]
    fn entities_are_numbered_in_order_and_counted() -> io::Result<()> {
        let mut out = Vec::new();
        let mut writer = StepWriter::new(&mut out, 1);
        let a = writer.entity("IFCCARTESIANPOINT", |a| {
            a.reals(&[0.0, 1.0, 2.0]);
        })?;
        let b = writer.entity("IFCLOCALPLACEMENT", |a| {
            a.null().id(Id(1));
        })?;
        assert_eq!((a, b), (Id(1), Id(2)));
        assert_eq!(writer.entities(), 2);
        let bytes = writer.bytes();
        let text = String::from_utf8_lossy(&out).into_owned();
        assert_eq!(
            text,
            "#1=IFCCARTESIANPOINT((0.,1.,2.));\n#2=IFCLOCALPLACEMENT($,#1);\n"
        );
        assert_eq!(bytes, text.len() as u64);
        Ok(())
    }
}
