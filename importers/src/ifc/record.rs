//! Reading one record's attributes straight from its bytes, without ifc-lite's
//! `EntityDecoder`: the record's span comes from the scan's index, ifc-lite's own STEP
//! tokenizer (`parse_entity`) splits it into tokens that borrow the file's bytes, and the
//! accessors below read those tokens exactly as `DecodedEntity`'s accessors read the decoded
//! values (same string decoding, same "typed wrapper" rules). Nothing is cached and no
//! `AttributeValue` tree is built, so the hot records of the semantic layer (relationships,
//! property sets, properties) cost one token vector each.
//!
//! A record that does not parse reads as `None`: callers then go through the decoder, which
//! fails the same way and gives the diagnostic its error message, so malformed input is
//! reported exactly as before.

use std::borrow::Cow;

use ifc_lite_core::{DecodedEntity, EntityDecoder, IfcType, Token};
#[cfg(test)]
use ifc_lite_core::AttributeValue;

use super::source::Scanned;

/// One record's class and attribute tokens.
#[derive(Debug)]
pub(crate) struct Tokens<'a> {
    /// The class as the decoder reads it.
    pub(crate) ty: IfcType,
    /// Top-level attributes in order.
    pub(crate) attrs: Vec<Token<'a>>,
}

/// The file's bytes with the scan's index: records read by id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Records<'a> {
    bytes: &'a [u8],
    scanned: &'a Scanned<'a>,
    /// Shape representations read ahead, where products share them.
    shapes: Option<&'a ShapeRepresentations>,
}

/// A shape representation as the element reader reads it: the entity that representation
/// selection looks at (id, class, `ContextOfItems`, `RepresentationIdentifier`,
/// `RepresentationType`), its `Items`, and whether its identifier names body geometry.
#[derive(Debug, Clone)]
pub(crate) struct ShapeRepresentation {
    pub(crate) entity: DecodedEntity,
    pub(crate) items: Option<Vec<u32>>,
    pub(crate) body: bool,
}

/// Shape representations read ahead, by `#id`.
pub(crate) type ShapeRepresentations = rustc_hash::FxHashMap<u32, ShapeRepresentation>;

impl<'a> Records<'a> {
    /// `bytes` must be the bytes `scanned` was scanned from.
    pub(crate) fn new(bytes: &'a [u8], scanned: &'a Scanned<'a>) -> Self {
        Self {
            bytes,
            scanned,
            shapes: None,
        }
    }

    /// These records, with `shapes` read ahead.
    pub(crate) fn with_shapes(self, shapes: &'a ShapeRepresentations) -> Self {
        Self {
            shapes: Some(shapes),
            ..self
        }
    }

    /// Shape representation `#id` if it was read ahead.
    pub(crate) fn shape(&self, id: u32) -> Option<&'a ShapeRepresentation> {
        self.shapes?.get(&id)
    }

    /// The record `#id` tokenized, or `None` when it does not exist or does not parse.
    pub(crate) fn read(&self, id: u32) -> Option<Tokens<'a>> {
        let (start, end) = self.scanned.span(id)?;
        let line = self.bytes.get(start..end)?;
        // A record of scalars only (a property, a quantity) from its flat reading: the same
        // tokens without the tokenizer's combinators.
        if let Some(flat) = Flat::parse_typed(line)
            && flat.count() <= FLAT_ATTRIBUTES
            && let Some(attrs) = flat.scalars()
        {
            return Some(Tokens { ty: flat.ty, attrs });
        }
        let (_, ty, attrs) = ifc_lite_core::parse_entity(line).ok()?;
        Some(Tokens { ty, attrs })
    }

    /// Whether record `#id` exists with a keyword of ASCII letters, digits and `_` that is not
    /// `class` (an upper-case class name), ignoring case: such a record cannot read (through
    /// [`Records::read`] or the decoder) as that class. False when unsure (a missing record,
    /// whitespace or comments around `=`, other characters).
    pub(crate) fn keyword_is_not(&self, id: u32, class: &str) -> bool {
        let Some(line) = self.scanned.span(id).and_then(|(start, end)| self.bytes.get(start..end))
        else {
            return false;
        };
        let Some(at) = line.iter().position(|&b| b == b'=') else {
            return false;
        };
        leading_keyword(&line[at + 1..]).is_some_and(|name| !name.eq_ignore_ascii_case(class.as_bytes()))
    }

    /// The record `#id` as a [`Flat`], or `None` when it does not exist or is outside
    /// `Flat`'s subset (then [`Records::read`] reads it).
    pub(crate) fn flat(&self, id: u32) -> Option<Flat<'a>> {
        let (start, end) = self.scanned.span(id)?;
        Flat::parse(self.bytes.get(start..end)?)
    }

    /// `decoder.decode_by_id(id)` without touching the decoder's entity cache: for records
    /// read once (elements, their shapes), where caching only costs.
    pub(crate) fn decode(
        &self,
        decoder: &mut EntityDecoder,
        id: u32,
    ) -> ifc_lite_core::Result<DecodedEntity> {
        match self.scanned.span(id) {
            Some((start, end)) => decoder.decode_at_uncached(start, end),
            // Not in the index: the decoder says so in its own words.
            None => decoder.decode_by_id(id),
        }
    }
}

/// How many leading attributes [`Flat`] keeps.
const FLAT_ATTRIBUTES: usize = 8;

/// The deepest list nesting [`Flat`] reads (ifc-lite's tokenizer allows 256); deeper records
/// go to the tokenizer.
const FLAT_DEPTH: u32 = 32;

/// A record's class and the bytes of its first [`FLAT_ATTRIBUTES`] top-level attributes, read
/// without allocating. Only records in a strict subset of the tokenizer's grammar read this
/// way: no whitespace or comments anywhere but spaces right after `=` (Revit and ArchiCAD
/// write `#12= IFCWALL(`), no binaries, each value followed at once by `,` or `)`, and no
/// typed values unless asked for ([`Flat::parse_typed`]; a typed value's `(` right after its
/// name). Each value's extent is decided by the same rules as
/// ifc-lite's tokenizer (its string-end, number and id readers; its order of alternatives),
/// so such a record tokenizes, and into the same values. Anything else reads as `None`, and
/// the caller takes the tokenizer's path.
#[derive(Debug)]
pub(crate) struct Flat<'a> {
    /// The class as the decoder reads it.
    pub(crate) ty: IfcType,
    attrs: [&'a [u8]; FLAT_ATTRIBUTES],
    count: usize,
    /// Whether typed values were let in ([`Flat::parse_typed`]).
    typed: bool,
}

impl<'a> Flat<'a> {
    /// Reads a record's bytes (`#id=KEYWORD(...);`), or `None` outside the strict subset or
    /// when a value is typed.
    pub(crate) fn parse(line: &'a [u8]) -> Option<Self> {
        Self::parse_with(line, false)
    }

    /// [`Flat::parse`] letting in typed values, for [`Flat::scalar`] only: the other
    /// accessors do not see through them as the decoder does.
    pub(crate) fn parse_typed(line: &'a [u8]) -> Option<Self> {
        Self::parse_with(line, true)
    }

    fn parse_with(line: &'a [u8], typed: bool) -> Option<Self> {
        let rest = line.strip_prefix(b"#")?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        ifc_lite_core::express_id::parse_express_id(rest.get(..digits).filter(|d| !d.is_empty())?)?;
        let rest = rest[digits..].strip_prefix(b"=")?;
        let rest = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
        let name = leading_keyword(rest)?.len();
        let ty = IfcType::from_str(std::str::from_utf8(&rest[..name]).ok()?);
        let mut flat = Self {
            ty,
            attrs: [&[]; FLAT_ATTRIBUTES],
            count: 0,
            typed,
        };
        let mut at = name + 1;
        if rest.get(at) == Some(&b')') {
            at += 1;
        } else {
            loop {
                let end = value_end(rest, at, 0, typed)?;
                if flat.count < FLAT_ATTRIBUTES {
                    flat.attrs[flat.count] = &rest[at..end];
                }
                flat.count += 1;
                at = end + 1;
                match rest.get(end)? {
                    b',' => {}
                    b')' => break,
                    _ => return None,
                }
            }
        }
        (rest.get(at) == Some(&b';')).then_some(flat)
    }

    /// How many top-level attributes the record has.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    fn attr(&self, index: usize) -> Option<&'a [u8]> {
        (index < self.count.min(FLAT_ATTRIBUTES)).then(|| self.attrs[index])
    }

    /// [`Tokens::get_ref`]; `None` also past the kept attributes.
    pub(crate) fn get_ref(&self, index: usize) -> Option<u32> {
        let digits = self.attr(index)?.strip_prefix(b"#")?;
        ifc_lite_core::express_id::parse_express_id(digits)
    }

    /// [`Tokens::get_refs`]; `None` also past the kept attributes.
    pub(crate) fn get_refs(&self, index: usize) -> Option<Vec<u32>> {
        let attr = self.attr(index)?;
        let refs = match attr.first()? {
            b'#' => vec![self.get_ref(index)?],
            b'(' => {
                let mut refs = Vec::new();
                let mut at = 1;
                while attr.get(at) != Some(&b')') {
                    // Read once by `parse`: every member ends at `,` or `)`.
                    let end = value_end(attr, at, 1, self.typed)?;
                    if let Some(digits) = attr[at..end].strip_prefix(b"#") {
                        refs.push(ifc_lite_core::express_id::parse_express_id(digits)?);
                    }
                    at = end + usize::from(attr[end] == b',');
                }
                refs
            }
            _ => return None,
        };
        (!refs.is_empty()).then_some(refs)
    }

    /// Attribute `index` as the tokenizer's token when it is a single value (`$`, `*`, a
    /// reference, a string or an enumeration); `None` for lists and numbers and past the
    /// kept attributes.
    pub(crate) fn token(&self, index: usize) -> Option<Token<'a>> {
        single_token(self.attr(index)?)
    }

    /// Attribute `index` as the tokenizer's token when it is a scalar: what [`Self::token`]
    /// reads, a number, or (read by [`Flat::parse_typed`]) a typed value of one such argument
    /// (`IFCLABEL('x')`, `IFCLENGTHMEASURE(2.5)`); `None` for lists, other typed values, a
    /// number that has no finite value, and past the kept attributes.
    pub(crate) fn scalar(&self, index: usize) -> Option<Token<'a>> {
        scalar_token(self.attr(index)?, true)
    }

    /// Every attribute as [`Self::scalar`] reads it, `None` if one is not a scalar.
    fn scalars(&self) -> Option<Vec<Token<'a>>> {
        let mut attrs = Vec::with_capacity(self.count);
        for i in 0..self.count {
            attrs.push(self.scalar(i)?);
        }
        Some(attrs)
    }

    /// [`Tokens::text`]; `None` also past the kept attributes.
    pub(crate) fn text(&self, index: usize) -> Option<String> {
        let inner = self.attr(index)?.strip_prefix(b"'")?.strip_suffix(b"'")?;
        let decoded = decode_literal(inner);
        ifc_lite_core::optional_text(Some(&decoded)).map(str::to_owned)
    }
}

/// The token of a single value's bytes `value` (one read by [`value_end`]): `$`, `*`, a
/// reference, a string or an enumeration; `None` for anything else. ([`value_end`] reads a
/// value that starts and ends with `.` as an enumeration, so that is what one is here.)
fn single_token(value: &[u8]) -> Option<Token<'_>> {
    match value.first()? {
        b'$' => Some(Token::Null),
        b'*' => Some(Token::Derived),
        b'#' => ifc_lite_core::express_id::parse_express_id(&value[1..]).map(Token::EntityRef),
        b'\'' => Some(Token::String(&value[1..value.len() - 1])),
        b'.' if value.len() > 2 && value.ends_with(b".") => {
            Some(Token::Enum(&value[1..value.len() - 1]))
        }
        _ => None,
    }
}

/// The token of a scalar value's bytes `value` (one read by [`value_end`]): a
/// [`single_token`], a number, or when `typed` a typed value of one such argument.
fn scalar_token(value: &[u8], typed: bool) -> Option<Token<'_>> {
    if let Some(token) = single_token(value) {
        return Some(token);
    }
    match value.first()? {
        b'+' | b'-' | b'.' | b'0'..=b'9' => match ifc_lite_core::read_step_number(value)? {
            (ifc_lite_core::StepNumber::Integer(i), _) => Some(Token::Integer(i)),
            (ifc_lite_core::StepNumber::Real(f), _) => Some(Token::Float(f)),
            _ => None,
        },
        b'A'..=b'Z' | b'a'..=b'z' | b'_' if typed => {
            let name = leading_keyword(value)?;
            let argument = value.get(name.len() + 1..value.len() - 1)?;
            if argument.is_empty() || value_end(argument, 0, 0, true).is_some() {
                // No argument, or more than one (the first value ends at a `,`).
                return None;
            }
            let inner = scalar_token(argument, false)?;
            Some(Token::TypedValue(name, vec![inner]))
        }
        _ => None,
    }
}

/// The class keyword that `rest` starts with (ASCII letters, digits and `_`, at least one)
/// when an opening `(` follows it at once, as in `IFCWALL(`; `None` otherwise.
pub(crate) fn leading_keyword(rest: &[u8]) -> Option<&[u8]> {
    let name = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    (name > 0 && rest.get(name) == Some(&b'(')).then(|| &rest[..name])
}

/// Where the value starting at `line[at]` ends (the index just past it) if it is in
/// [`Flat`]'s subset and followed at once by `,` or `)`; the alternatives are tried in the
/// tokenizer's order.
fn value_end(line: &[u8], at: usize, depth: u32, typed: bool) -> Option<usize> {
    let end = match *line.get(at)? {
        b'$' | b'*' => at + 1,
        b'#' => {
            let digits = line[at + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
            ifc_lite_core::express_id::parse_express_id(
                line.get(at + 1..at + 1 + digits).filter(|d| !d.is_empty())?,
            )?;
            at + 1 + digits
        }
        b'\'' => ifc_lite_core::step_encoding::step_string_literal_end(line, at)?,
        b'(' => list_end(line, at, depth, typed)?,
        b'.' => {
            let name = line[at + 1..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count();
            if name > 0 && line.get(at + 1 + name) == Some(&b'.') {
                at + name + 2
            } else {
                at + ifc_lite_core::read_step_number(&line[at..])?.1
            }
        }
        b'+' | b'-' | b'0'..=b'9' => at + ifc_lite_core::read_step_number(&line[at..])?.1,
        // A typed value, `IFCLABEL('x')`: the tokenizer's last alternative, its arguments a
        // level deeper.
        b'A'..=b'Z' | b'a'..=b'z' | b'_' if typed => {
            let name = leading_keyword(&line[at..])?.len();
            list_end(line, at + name, depth, typed)?
        }
        _ => return None,
    };
    matches!(line.get(end), Some(b',' | b')')).then_some(end)
}

/// Where the parenthesised list whose `(` is `line[open]` ends (just past its `)`), its
/// members one level deeper than `depth`, as [`value_end`] reads them.
fn list_end(line: &[u8], open: usize, depth: u32, typed: bool) -> Option<usize> {
    if depth >= FLAT_DEPTH {
        return None;
    }
    let mut p = open + 1;
    if line.get(p) != Some(&b')') {
        loop {
            let end = value_end(line, p, depth + 1, typed)?;
            p = end + 1;
            match line[end] {
                b',' => {}
                _ => break,
            }
        }
        p -= 1;
    }
    // `p` is at the list's `)`.
    (line.get(p) == Some(&b')')).then_some(p + 1)
}

/// A token's value as the decoder would store it, reduced to what the accessors look at.
/// `Typed` sees its single argument; a typed value of no or several arguments is not a
/// scalar.
fn unwrap_typed<'t, 'a>(token: &'t Token<'a>) -> &'t Token<'a> {
    match token {
        Token::TypedValue(_, args) if args.len() == 1 => unwrap_typed(&args[0]),
        other => other,
    }
}

/// A STEP string literal's inner bytes decoded as the decoder decodes them: lossy UTF-8,
/// `''` undoubled, then the backslash escapes (`\X2\…\X0\` and the rest).
pub(crate) fn decode_literal(inner: &[u8]) -> Cow<'_, str> {
    let text = String::from_utf8_lossy(inner);
    if !inner.contains(&b'\'') {
        return match text {
            Cow::Borrowed(t) => ifc_lite_core::decode_ifc_string(t),
            Cow::Owned(t) => Cow::Owned(ifc_lite_core::decode_ifc_string(&t).into_owned()),
        };
    }
    Cow::Owned(ifc_lite_core::decode_ifc_string(&text.replace("''", "'")).into_owned())
}

impl Tokens<'_> {
    /// `DecodedEntity::get_ref`: a plain reference only.
    pub(crate) fn get_ref(&self, index: usize) -> Option<u32> {
        match self.attrs.get(index)? {
            Token::EntityRef(id) => Some(*id),
            _ => None,
        }
    }

    /// The class name as `DecodedEntity::ifc_type.as_str()` gives it.
    pub(crate) fn class(&self) -> &str {
        self.ty.as_str()
    }

    /// `properties::text`: the string (seen through a typed wrapper), decoded, trimmed,
    /// `None` when absent, empty or `$`.
    pub(crate) fn text(&self, index: usize) -> Option<String> {
        match unwrap_typed(self.attrs.get(index)?) {
            Token::String(inner) => {
                let decoded = decode_literal(inner);
                ifc_lite_core::optional_text(Some(&decoded)).map(str::to_owned)
            }
            _ => None,
        }
    }

    /// `DecodedEntity::get_refs`: a list's references, a bare reference as a list of one, an
    /// `IfcPropertySetDefinitionSet` as its members; `None` when there are none.
    pub(crate) fn get_refs(&self, index: usize) -> Option<Vec<u32>> {
        let refs: Vec<u32> = ref_members(self.attrs.get(index)?)?
            .iter()
            .filter_map(|t| match t {
                Token::EntityRef(id) => Some(*id),
                _ => None,
            })
            .collect();
        (!refs.is_empty()).then_some(refs)
    }

    /// `AttributeValue::as_ref_members` of attribute `index`, as references (non-references
    /// dropped), `None` where that gives `None`.
    pub(crate) fn ref_members(&self, index: usize) -> Option<Vec<u32>> {
        Some(
            ref_members(self.attrs.get(index)?)?
                .iter()
                .filter_map(|t| match t {
                    Token::EntityRef(id) => Some(*id),
                    _ => None,
                })
                .collect(),
        )
    }
}

/// `AttributeValue::as_ref_members` on a token.
fn ref_members<'t, 'a>(token: &'t Token<'a>) -> Option<&'t [Token<'a>]> {
    match token {
        Token::EntityRef(_) => Some(std::slice::from_ref(token)),
        Token::List(items) => Some(items),
        Token::TypedValue(name, args) => {
            let is_set = name.eq_ignore_ascii_case(b"IFCPROPERTYSETDEFINITIONSET");
            match args.as_slice() {
                [Token::List(set)] if is_set => Some(set),
                [Token::EntityRef(_)] => Some(&args[..1]),
                [_] | [] => None,
                // Several arguments decode to a list.
                _ if is_set => Some(args),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `AttributeValue::as_float` on a token: a real, an integer, or either inside a typed
/// wrapper; an unrepresentable real is the infinity the decoder reads it as.
pub(crate) fn as_float(token: &Token) -> Option<f64> {
    match unwrap_typed(token) {
        Token::Float(f) => Some(*f),
        Token::Integer(i) => Some(*i as f64),
        Token::UnrepresentableReal(raw) => Some(if raw.first() == Some(&b'-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ifc::properties::{self, PropertyReader};
    use crate::ifc::{source, units};

    /// Every record of `bytes` read from its tokens agrees with the decoder on every accessor
    /// the importer uses, and every property set reads the same (diagnostics included) through
    /// the token path as through the decoder; every record that reads as a [`Flat`] decodes,
    /// to the same class, references and texts. Returns how many records, sets and flat
    /// records were compared.
    fn compare(bytes: &[u8]) -> (usize, usize, usize) {
        let scanned = source::scan(bytes).expect("the file scans");
        let records = Records::new(bytes, &scanned);
        let mut decoder = scanned.decoder(bytes);
        let mut diagnostics = Vec::new();
        let units = units::resolve(&mut decoder, &scanned, &mut diagnostics);
        let (mut compared, mut sets, mut flat_read) = (0, 0, 0);
        for r in &scanned.records {
            if let (Some(flat), Err(err)) = (records.flat(r.id), decoder.decode_by_id(r.id)) {
                panic!("#{}: read flat as {flat:?}, the decoder fails: {err}", r.id);
            }
            let decoded = decoder.decode_by_id(r.id);
            let tokens = records.read(r.id);
            // The tokens as ifc-lite's tokenizer gives them, whichever way they were read.
            let line = scanned.span(r.id).and_then(|(start, end)| bytes.get(start..end));
            if let (Some(tokens), Some(Ok((_, ty, attrs)))) =
                (&tokens, line.map(ifc_lite_core::parse_entity))
            {
                assert_eq!(tokens.ty, ty, "#{}", r.id);
                assert_eq!(format!("{:?}", tokens.attrs), format!("{attrs:?}"), "#{}", r.id);
            }
            let (entity, tokens) = match (decoded, tokens) {
                (Ok(e), Some(t)) => (e, t),
                (Err(_), None) => continue,
                (d, t) => panic!("#{}: decoder {:?}, tokens {:?}", r.id, d.is_ok(), t.is_some()),
            };
            assert_eq!(tokens.class(), entity.ifc_type.as_str(), "#{}", r.id);
            if let Some(flat) = records.flat(r.id) {
                assert_eq!(flat.ty, entity.ifc_type, "#{}", r.id);
                for i in 0..FLAT_ATTRIBUTES.min(entity.attributes.len() + 1) {
                    let at = format!("#{} flat attribute {i}", r.id);
                    assert_eq!(flat.get_ref(i), entity.get_ref(i), "{at}");
                    assert_eq!(flat.text(i), properties::text(&entity, i), "{at}");
                    assert_eq!(flat.get_refs(i), entity.get_refs(i), "{at}");
                    for token in [flat.token(i), flat.scalar(i)].into_iter().flatten() {
                        assert_eq!(
                            format!("{:?}", AttributeValue::from_token(&token)),
                            format!("{:?}", entity.get(i).expect("attribute")),
                            "{at}"
                        );
                    }
                }
                flat_read += 1;
            }
            for i in 0..=entity.attributes.len() {
                let at = format!("#{} attribute {i}", r.id);
                assert_eq!(tokens.get_ref(i), entity.get_ref(i), "{at}");
                assert_eq!(tokens.text(i), properties::text(&entity, i), "{at}");
                assert_eq!(tokens.get_refs(i), entity.get_refs(i), "{at}");
                assert_eq!(
                    tokens.ref_members(i),
                    entity.get(i).and_then(|v| v.as_ref_members()).map(|m| m
                        .iter()
                        .filter_map(|v| v.as_entity_ref())
                        .collect::<Vec<_>>()),
                    "{at}"
                );
                assert_eq!(
                    tokens.attrs.get(i).and_then(as_float).map(f64::to_bits),
                    entity.get_float(i).map(f64::to_bits),
                    "{at}"
                );
            }
            compared += 1;
        }
        let reader = PropertyReader::new(units, records);
        for r in &scanned.records {
            let keyword = scanned.keyword(*r);
            if !(keyword.eq_ignore_ascii_case("IFCPROPERTYSET")
                || keyword.eq_ignore_ascii_case("IFCELEMENTQUANTITY"))
            {
                continue;
            }
            let (mut fast_diagnostics, mut decoded_diagnostics) = (Vec::new(), Vec::new());
            let fast = reader.read_uncached(&mut decoder, r.id, &mut fast_diagnostics);
            let decoded = reader.read_decoded(&mut decoder, r.id, &mut decoded_diagnostics);
            assert_eq!(format!("{fast:?}"), format!("{decoded:?}"), "set #{}", r.id);
            assert_eq!(
                format!("{fast_diagnostics:?}"),
                format!("{decoded_diagnostics:?}"),
                "set #{}",
                r.id
            );
            sets += 1;
        }
        (compared, sets, flat_read)
    }

    /// Records written to stress the token reader: escapes, doubled quotes, typed and nested
    /// typed values, lower-case type names, sets of sets, unrepresentable reals, lists as
    /// values, dangling and malformed members.
    const TRICKY: &str = r#"ISO-10303-21;
HEADER;
FILE_DESCRIPTION((''),'2;1');
FILE_NAME('','',(''),(''),'','','');
FILE_SCHEMA(('IFC4'));
ENDSEC;
DATA;
#1=IFCPROJECT('0001',$,'Pro''ject \X2\00FC\X0\',$,$,$,$,$,#2);
#2=IFCUNITASSIGNMENT((#3,#4));
#3=IFCSIUNIT(*,.LENGTHUNIT.,.MILLI.,.METRE.);
#4=IFCSIUNIT(*,.AREAUNIT.,$,.SQUARE_METRE.);
#10=IFCWALL('0002',$,'  W\X2\00E4\X0\nd  ',$,$,$,$,'tag',$);
#11=IFCPROPERTYSINGLEVALUE('Length',$,IFCLENGTHMEASURE(2500.),$);
#12=IFCPROPERTYSINGLEVALUE('Lower',$,ifclengthmeasure(1500),$);
#13=IFCPROPERTYSINGLEVALUE('Flag',$,IFCBOOLEAN(.T.),$);
#14=IFCPROPERTYSINGLEVALUE('Logical',$,IFCLOGICAL(.U.),$);
#15=IFCPROPERTYSINGLEVALUE('Label',$,IFCLABEL('it''s \X2\00FC\X0\'),$);
#16=IFCPROPERTYSINGLEVALUE('Huge',$,IFCLENGTHMEASURE(1.E400),$);
#17=IFCPROPERTYSINGLEVALUE('Pair',$,IFCREAL(1.,2.),$);
#18=IFCPROPERTYSINGLEVALUE('Nested',$,IFCLABEL(IFCTEXT('x')),$);
#19=IFCPROPERTYSINGLEVALUE('Bare',$,42,$);
#20=IFCPROPERTYSINGLEVALUE('Ref',$,#10,$);
#21=IFCPROPERTYSINGLEVALUE('Enum',$,.F.,$);
#22=IFCPROPERTYSINGLEVALUE('List',$,(1,2),$);
#23=IFCPROPERTYSINGLEVALUE('Empty',$,IFCLABEL(),$);
#24=IFCPROPERTYSINGLEVALUE('$',$,IFCLABEL('no name'),$);
#25=IFCPROPERTYSINGLEVALUE('Unit',$,IFCLENGTHMEASURE(3.),#3);
#26=IFCPROPERTYSINGLEVALUE('Count',$,IFCINTEGER(7),$);
#27=IFCPROPERTYSINGLEVALUE('AreaInt',$,IFCAREAMEASURE(7),$);
#28=IFCPROPERTYENUMERATEDVALUE('Enumerated',$,(IFCLABEL('a'),IFCLABEL('b')),$);
#29=IFCPROPERTYSINGLEVALUE('Binary',$,IFCBINARY("0FF"),$);
#30=IFCPROPERTYSET('0003',$,'Pset_Tricky',$,(#11,#12,#13,#14,#15,#16,#17,#18,#19,#20,#21,#22,#23,#24,#25,#26,#27,#28,#29,#999,#31,#41));
#31=IFCPROPERTYSINGLEVALUE('Broken',$,IFCLABEL('x'),$
);
#32=IFCQUANTITYLENGTH('Len',$,$,3000.,$);
#33=IFCQUANTITYAREA('Area',$,#4,IFCAREAMEASURE(2),$);
#34=IFCQUANTITYCOUNT('Count',$,$,5,$);
#35=IFCQUANTITYVOLUME('Huge',$,$,-1.E400,$);
#36=IFCELEMENTQUANTITY('0004',$,'Qto_Tricky',$,$,(#32,#33,#34,#35));
#37=IFCRELDEFINESBYPROPERTIES('0005',$,$,$,(#10),IFCPROPERTYSETDEFINITIONSET((#30,#36)));
#38=IFCRELDEFINESBYPROPERTIES('0006',$,$,$,(#10),IFCPROPERTYSETDEFINITIONSET(#30));
#39=IFCRELDEFINESBYPROPERTIES('0007',$,$,$,#10,#36);
#40=IFCPROPERTYSET('0008',$,$,$,());
#41=IFCPROPERTYSINGLEVALUE('Bad',$,IFCLABEL('x'),,$);
#50=IFCWALL('a',$,'b',$,$,$,#10,'x',.NOTDEFINED.);
#51=IFCWALL('g''x',$,'P \S\' 5',$,$,(1.,-2,.5,+1.E-3,(#1,()),.5.),#10,$,$);
#52=IFCWALL('a', $,'b',$,$,$,#10,$,$);
#53=IFCWALL('a',$,'b',$,$,$,#4294967296,$,$);
#54=IFCWALL('a',$,'b',$,$,$,#10,$,$) ;
#55=IFCWALL('a',$,'b',1.5E,$,$,#10,$,$);
#56=IFCWALL('a',$,IFCLABEL('n'),$,$,$,#10,$,$);
#57=IFCWALL('\X2\00FC\X0\',$,'  ',$,$,$,#00010,$);
#58=IFCWALL('a',$,'b',$,$,$,(#10),$,$);
#59=IFCWALL(,$,'b');
#60=IFCWALL('a',$,'b',$,$,$,#10,$,$,);
#61=  IFCPROPERTYSINGLEVALUE('Spaced',$,IFCLENGTHMEASURE(-2.5E-1),$);
#62=IFCWALL('a',$,IFCLABEL ('n'),$,$,$,#10,$,$);
#63=IFCWALL('a',$,IFCLABEL( 'n'),$,$,$,#10,$,$);
#64=IFCPROPERTYSINGLEVALUE('Typed pair',$,IFCCOMPLEXNUMBER(1.,2.),$);
#65=IFCPROPERTYSINGLEVALUE('Typed list',$,IFCLABEL(('a','b')),$);
#66= IFCPROPERTYSINGLEVALUE('Enum',$,IFCLOGICAL(.T.),$);
#67=IFCPROPERTYSET('0009',$,'Pset_Spaced',$,(#61,#64,#65,#66));
#68=  IFCWALL('a',$,'b',$,$,$,#10,$,$);
ENDSEC;
END-ISO-10303-21;
"#;

    #[test]
    fn token_reader_agrees_with_the_decoder_on_tricky_records() {
        let (records, sets, flat) = compare(TRICKY.as_bytes());
        assert!(records >= 35, "{records} records compared");
        assert_eq!(sets, 4);
        assert!(flat >= 15, "{flat} flat records");
        // Inside the subset; outside it (whitespace, typed values, a missing `;`).
        let bytes_of = |id: u32| {
            let start = TRICKY.find(&format!("\n#{id}=")).expect("record") + 1;
            let end = start + TRICKY[start..].find('\n').expect("line end");
            &TRICKY.as_bytes()[start..end]
        };
        let line = |id: u32| Flat::parse(bytes_of(id));
        for id in [10, 50, 51, 57, 58, 68] {
            assert!(line(id).is_some(), "#{id} reads flat");
        }
        for id in [52, 53, 54, 55, 56, 59, 60, 61, 62, 63, 64, 65, 66] {
            assert!(line(id).is_none(), "#{id} does not read flat");
        }
        // With typed values let in: scalars, typed values of one scalar included, and not a
        // typed pair or a typed list; still no whitespace inside.
        let typed = |id: u32| Flat::parse_typed(bytes_of(id));
        for id in [10, 51, 56, 61, 64, 65, 66] {
            assert!(typed(id).is_some(), "#{id} reads flat with typed values");
        }
        for id in [52, 62, 63] {
            assert!(typed(id).is_none(), "#{id} does not read flat with typed values");
        }
        let spaced = typed(61).expect("#61");
        assert!(matches!(
            spaced.scalar(2),
            Some(Token::TypedValue(b"IFCLENGTHMEASURE", ref v))
                if matches!(v[..], [Token::Float(f)] if f == -0.25)
        ));
        assert!(typed(64).expect("#64").scalar(2).is_none());
        assert!(typed(65).expect("#65").scalar(2).is_none());
        assert!(matches!(
            typed(66).expect("#66").scalar(2),
            Some(Token::TypedValue(_, ref v)) if matches!(v[..], [Token::Enum(b"T")])
        ));
        assert!(typed(51).expect("#51").scalar(5).is_none(), "a list is no scalar");
        assert!(Flat::parse(b"#1=IFCWALL('a',$,'b',$,$,$,#10,$,$)").is_none());
        let wall = line(51).expect("#51");
        assert_eq!(wall.text(2).as_deref(), Some("P \u{a7} 5"), "\\S\\' is ISO 8859-1 0xA7");
        assert_eq!((wall.get_ref(6), wall.get_ref(5)), (Some(10), None));
    }

    #[test]
    fn token_reader_agrees_with_the_decoder_on_a_generated_district() {
        let config = renewtwin_generator::DistrictConfig {
            buildings: 2,
            seed: 7,
            ..Default::default()
        };
        let (records, sets, flat) =
            compare(renewtwin_generator::district_ifc(&config).as_bytes());
        assert!(records > 1000 && sets > 10, "{records} records, {sets} sets");
        assert!(flat * 2 > records, "{flat} of {records} records read flat");
    }

    /// Only a record that exists with a plain keyword (ASCII letters, digits, `_`, then `(`)
    /// other than the class is said not to be of it.
    #[test]
    fn keyword_is_not_is_sure_only_of_plain_keywords() {
        let text = "ISO-10303-21;\nHEADER;\nFILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n\
            #1=IFCEXTRUDEDAREASOLID(#2,$,$,1.);\n#2=IfcMappedItem(#3,#4);\n\
            #3= IFCEXTRUDEDAREASOLID(#2,$,$,1.);\n#4=IFCMAPPEDITEM(#3,$);\nENDSEC;\nEND-ISO-10303-21;\n";
        let scanned = source::scan(text.as_bytes()).expect("the file scans");
        let records = Records::new(text.as_bytes(), &scanned);
        assert!(records.keyword_is_not(1, "IFCMAPPEDITEM"));
        assert!(!records.keyword_is_not(2, "IFCMAPPEDITEM"), "any case");
        assert!(!records.keyword_is_not(3, "IFCMAPPEDITEM"), "a space after '='");
        assert!(!records.keyword_is_not(4, "IFCMAPPEDITEM"));
        assert!(!records.keyword_is_not(99, "IFCMAPPEDITEM"), "no such record");
    }

    #[test]
    fn token_reader_agrees_with_the_decoder_on_the_corpus() {
        for file in crate::ifc::cross_check::corpus_files() {
            let bytes = std::fs::read(&file).expect("corpus file");
            let (records, _, _) = compare(&bytes);
            assert!(records > 0, "{}", file.display());
        }
    }
}
