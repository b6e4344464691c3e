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
}

impl<'a> Records<'a> {
    /// `bytes` must be the bytes `scanned` was scanned from.
    pub(crate) fn new(bytes: &'a [u8], scanned: &'a Scanned<'a>) -> Self {
        Self { bytes, scanned }
    }

    /// The record `#id` tokenized, or `None` when it does not exist or does not parse.
    pub(crate) fn read(&self, id: u32) -> Option<Tokens<'a>> {
        let (start, end) = self.scanned.span(id)?;
        let line = self.bytes.get(start..end)?;
        let (_, ty, attrs) = ifc_lite_core::parse_entity(line).ok()?;
        Some(Tokens { ty, attrs })
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
