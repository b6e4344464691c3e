//! Property and quantity sets: IfcPropertySet and IfcElementQuantity read into typed
//! [`PropertySet`]s, length/area/volume measures converted to SI.

use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;

use ifc_lite_core::{
    AttributeValue, DecodedEntity, EntityDecoder, MeasureUnit, Token, measure_unit, optional_text,
};

use super::diagnostic;
use super::record::{self, Records, Tokens};
use super::units::Units;
use crate::{Diagnostic, DiagnosticKind, Property, PropertySet, PropertyValue, Severity};

/// How deep IfcComplexProperty nesting is followed.
const MAX_COMPLEX_DEPTH: usize = 4;

/// Reads property sets, each once however many elements share it.
#[derive(Debug)]
pub(crate) struct PropertyReader<'a> {
    units: Units,
    /// The records, read straight from their bytes where the shape is a common one.
    records: Records<'a>,
    /// Each set read, shared by every element that uses it (`None`: not a set this importer
    /// reads).
    cache: HashMap<u32, Option<Arc<PropertySet>>>,
    /// Diagnostics of sets read ahead ([`Self::prefill`]), given out with the set's first
    /// [`Self::read`] (so a set nobody uses reports nothing, as when read on demand).
    pending: HashMap<u32, Vec<Diagnostic>>,
}

impl<'a> PropertyReader<'a> {
    pub(crate) fn new(units: Units, records: Records<'a>) -> Self {
        Self {
            units,
            records,
            cache: HashMap::default(),
            pending: HashMap::default(),
        }
    }

    /// Reads the sets `ids` ahead, on every core, each worker with a decoder from
    /// `new_decoder`.
    pub(crate) fn prefill<'d>(
        &mut self,
        ids: &[u32],
        new_decoder: impl Fn() -> EntityDecoder<'d> + Sync,
    ) {
        use rayon::prelude::*;
        let read: Vec<(u32, Option<Arc<PropertySet>>, Vec<Diagnostic>)> = ids
            .par_iter()
            .filter(|id| !self.cache.contains_key(id))
            .map_init(&new_decoder, |decoder, &id| {
                let mut diagnostics = Vec::new();
                let set = self.read_uncached(decoder, id, &mut diagnostics).map(Arc::new);
                super::bound_cache(decoder);
                (id, set, diagnostics)
            })
            .collect();
        for (id, set, diagnostics) in read {
            self.cache.insert(id, set);
            if !diagnostics.is_empty() {
                self.pending.insert(id, diagnostics);
            }
        }
    }

    /// The set `#id` if it was read already (`Some(None)`: read, and not a set this importer
    /// reads); its diagnostics stay pending until [`Self::take_pending`] or [`Self::read`].
    pub(crate) fn peek(&self, id: u32) -> Option<&Option<Arc<PropertySet>>> {
        self.cache.get(&id)
    }

    /// Moves the pending diagnostics of the set `#id` (read ahead) into `diagnostics`.
    pub(crate) fn take_pending(&mut self, id: u32, diagnostics: &mut Vec<Diagnostic>) {
        if self.pending.is_empty() {
            return;
        }
        if let Some(pending) = self.pending.remove(&id) {
            diagnostics.extend(pending);
        }
    }

    /// The set `#id`, or `None` when it is not a property or quantity set this importer reads.
    pub(crate) fn read(
        &mut self,
        decoder: &mut EntityDecoder,
        id: u32,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Arc<PropertySet>> {
        if let Some(cached) = self.cache.get(&id) {
            let set = cached.clone();
            self.take_pending(id, diagnostics);
            return set;
        }
        let set = self.read_uncached(decoder, id, diagnostics).map(Arc::new);
        self.cache.insert(id, set.clone());
        set
    }

    pub(crate) fn read_uncached(
        &self,
        decoder: &mut EntityDecoder,
        id: u32,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<PropertySet> {
        let Some(set) = self.records.read(id) else {
            return self.read_decoded(decoder, id, diagnostics);
        };
        let (members_at, is_quantities) = match set.class() {
            "IFCPROPERTYSET" => (4, false),
            "IFCELEMENTQUANTITY" => (5, true),
            _ => return None,
        };
        let name = set.text(2).unwrap_or_default();
        let members = set.get_refs(members_at).unwrap_or_default();
        let mut properties = Vec::with_capacity(members.len());
        for member in members {
            // The common properties straight from their bytes; anything else (and a member
            // that cannot be read, for its diagnostic) through the decoder.
            if let Some(prop) = self.records.read(member)
                && self.read_property_tokens(decoder, &prop, &mut properties)
            {
                continue;
            }
            self.read_member_decoded(decoder, id, &name, is_quantities, member, &mut properties, diagnostics);
        }
        Some(PropertySet { name, properties })
    }

    /// [`Self::read_uncached`] through the decoder only.
    pub(super) fn read_decoded(
        &self,
        decoder: &mut EntityDecoder,
        id: u32,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<PropertySet> {
        let entity = match decoder.decode_by_id(id) {
            Ok(e) => e,
            Err(err) => {
                diagnostics.push(diagnostic(
                    Severity::Warning,
                    DiagnosticKind::DanglingReference,
                    Some(id),
                    None,
                    format!(
                        "property set #{id} cannot be read: {}",
                        lower(&err.to_string())
                    ),
                ));
                return None;
            }
        };
        let (members_at, is_quantities) = match entity.ifc_type.as_str() {
            "IFCPROPERTYSET" => (4, false),
            "IFCELEMENTQUANTITY" => (5, true),
            _ => return None,
        };
        let name = text(&entity, 2).unwrap_or_default();
        let mut properties = Vec::new();
        for member in entity.get_refs(members_at).unwrap_or_default() {
            self.read_member_decoded(decoder, id, &name, is_quantities, member, &mut properties, diagnostics);
        }
        Some(PropertySet { name, properties })
    }

    /// Reads the property `#member` of the set `#id` through the decoder.
    #[allow(clippy::too_many_arguments)] // the set's identity, for the diagnostic
    fn read_member_decoded(
        &self,
        decoder: &mut EntityDecoder,
        id: u32,
        name: &str,
        is_quantities: bool,
        member: u32,
        properties: &mut Vec<Property>,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        let Ok(prop) = decoder.decode_by_id(member) else {
            diagnostics.push(diagnostic(
                Severity::Warning,
                DiagnosticKind::DanglingReference,
                Some(id),
                Some(if is_quantities {
                    "IfcElementQuantity"
                } else {
                    "IfcPropertySet"
                }),
                format!("'{name}' refers to #{member}, which does not exist"),
            ));
            return;
        };
        self.read_property(decoder, &prop, "", 0, properties);
    }

    /// [`Self::read_property`] (top level) on a record's tokens, for single values and simple
    /// quantities; false when the property is of another kind or holds a value of an unusual
    /// shape, so the caller reads it through the decoder instead (nothing is pushed then).
    fn read_property_tokens(
        &self,
        decoder: &mut EntityDecoder,
        prop: &Tokens,
        out: &mut Vec<Property>,
    ) -> bool {
        let value = match prop.class() {
            "IFCPROPERTYSINGLEVALUE" => {
                let Some(name) = prop.text(0) else { return true };
                let explicit = self.explicit_unit(decoder, prop.get_ref(3));
                let value = match prop.attrs.get(2) {
                    Some(v) => match self.value_token(v, explicit) {
                        Ok(value) => value,
                        Err(Unusual) => return false,
                    },
                    None => None,
                };
                value.map(|value| (name, value))
            }
            "IFCQUANTITYLENGTH" | "IFCQUANTITYAREA" | "IFCQUANTITYVOLUME" | "IFCQUANTITYCOUNT"
            | "IFCQUANTITYWEIGHT" | "IFCQUANTITYTIME" | "IFCQUANTITYNUMBER" => {
                let Some(name) = prop.text(0) else { return true };
                let project = match prop.class() {
                    "IFCQUANTITYLENGTH" => Some(self.units.length_to_metres),
                    "IFCQUANTITYAREA" => Some(self.units.area_to_m2),
                    "IFCQUANTITYVOLUME" => Some(self.units.volume_to_m3),
                    _ => None,
                };
                self.quantity_tokens(decoder, prop, project)
                    .map(|value| (name, value))
            }
            _ => return false,
        };
        if let Some((name, value)) = value {
            out.push(Property { name, value });
        }
        true
    }

    /// [`Self::quantity`] on tokens.
    fn quantity_tokens(
        &self,
        decoder: &mut EntityDecoder,
        prop: &Tokens,
        project: Option<f64>,
    ) -> Option<PropertyValue> {
        let raw = prop.attrs.get(3)?;
        if let (Token::Integer(i), None) = (raw, project) {
            return Some(PropertyValue::Integer(*i));
        }
        let v = record::as_float(raw)?;
        let scale = self
            .explicit_unit(decoder, prop.get_ref(2))
            .or(project)
            .unwrap_or(1.0);
        Some(PropertyValue::Real(v * scale))
    }

    /// [`Self::value`] on a token; `Err` for a shape it leaves to the decoder (lists, binaries,
    /// unrepresentable reals, nested typed values).
    fn value_token(
        &self,
        token: &Token,
        explicit: Option<f64>,
    ) -> Result<Option<PropertyValue>, Unusual> {
        Ok(match token {
            Token::TypedValue(name, args) => {
                let name = String::from_utf8_lossy(name);
                let name = if name.bytes().any(|b| b.is_ascii_lowercase()) {
                    std::borrow::Cow::Owned(name.to_ascii_uppercase())
                } else {
                    name
                };
                match args.as_slice() {
                    [] => None,
                    [arg] => self.typed_token(&name, arg, explicit)?,
                    _ => return Err(Unusual),
                }
            }
            Token::String(s) => Some(PropertyValue::Text(record::decode_literal(s).into_owned())),
            Token::Integer(i) => Some(PropertyValue::Integer(*i)),
            Token::Float(f) => Some(PropertyValue::Real(*f)),
            Token::Enum(e) => Some(logical(&String::from_utf8_lossy(e))),
            Token::EntityRef(id) => Some(PropertyValue::Other(format!("#{id}"))),
            Token::Null | Token::Derived => None,
            _ => return Err(Unusual),
        })
    }

    /// [`Self::typed`] on a typed value's one argument.
    fn typed_token(
        &self,
        type_name: &str,
        value: &Token,
        explicit: Option<f64>,
    ) -> Result<Option<PropertyValue>, Unusual> {
        Ok(match value {
            Token::Enum(e) if matches!(type_name, "IFCBOOLEAN" | "IFCLOGICAL") => {
                Some(logical(&String::from_utf8_lossy(e)))
            }
            Token::String(s) => Some(PropertyValue::Text(record::decode_literal(s).into_owned())),
            Token::Enum(e) => Some(PropertyValue::Text(String::from_utf8_lossy(e).into_owned())),
            Token::Integer(i) if !is_converted_measure(type_name) => {
                Some(PropertyValue::Integer(*i))
            }
            Token::Integer(_) | Token::Float(_) => {
                let Some(v) = record::as_float(value) else {
                    return Err(Unusual);
                };
                Some(PropertyValue::Real(v * self.measure_scale(type_name, explicit)))
            }
            Token::Null | Token::Derived => None,
            _ => return Err(Unusual),
        })
    }

    fn read_property(
        &self,
        decoder: &mut EntityDecoder,
        prop: &DecodedEntity,
        prefix: &str,
        depth: usize,
        out: &mut Vec<Property>,
    ) {
        let Some(name) = text(prop, 0) else { return };
        let name = format!("{prefix}{name}");
        let value = match prop.ifc_type.as_str() {
            "IFCPROPERTYSINGLEVALUE" => {
                let explicit = self.explicit_unit(decoder, prop.get_ref(3));
                prop.get(2).and_then(|v| self.value(v, explicit))
            }
            "IFCPROPERTYENUMERATEDVALUE" | "IFCPROPERTYLISTVALUE" => {
                let values: Vec<PropertyValue> = prop
                    .get_list(2)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|v| self.value(v, None))
                    .collect();
                match values.len() {
                    0 => None,
                    1 => values.into_iter().next(),
                    _ => Some(PropertyValue::Text(
                        values.iter().map(display).collect::<Vec<_>>().join(", "),
                    )),
                }
            }
            "IFCPROPERTYBOUNDEDVALUE" => {
                let upper = prop.get(2).and_then(|v| self.value(v, None));
                let lower_bound = prop.get(3).and_then(|v| self.value(v, None));
                match (lower_bound, upper) {
                    (None, None) => None,
                    (l, u) => Some(PropertyValue::Other(format!(
                        "{}..{}",
                        l.as_ref().map(display).unwrap_or_default(),
                        u.as_ref().map(display).unwrap_or_default()
                    ))),
                }
            }
            "IFCCOMPLEXPROPERTY" => {
                if depth < MAX_COMPLEX_DEPTH {
                    for member in prop.get_refs(3).unwrap_or_default() {
                        if let Ok(sub) = decoder.decode_by_id(member) {
                            self.read_property(decoder, &sub, &format!("{name}."), depth + 1, out);
                        }
                    }
                }
                return;
            }
            "IFCQUANTITYLENGTH" => self.quantity(decoder, prop, Some(self.units.length_to_metres)),
            "IFCQUANTITYAREA" => self.quantity(decoder, prop, Some(self.units.area_to_m2)),
            "IFCQUANTITYVOLUME" => self.quantity(decoder, prop, Some(self.units.volume_to_m3)),
            "IFCQUANTITYCOUNT" | "IFCQUANTITYWEIGHT" | "IFCQUANTITYTIME" | "IFCQUANTITYNUMBER" => {
                self.quantity(decoder, prop, None)
            }
            _ => None,
        };
        if let Some(value) = value {
            out.push(Property { name, value });
        }
    }

    /// A physical simple quantity: `Unit` at 2, value at 3.
    fn quantity(
        &self,
        decoder: &mut EntityDecoder,
        prop: &DecodedEntity,
        project: Option<f64>,
    ) -> Option<PropertyValue> {
        let raw = prop.get(3)?;
        if let (AttributeValue::Integer(i), None) = (raw, project) {
            return Some(PropertyValue::Integer(*i));
        }
        let v = raw.as_float()?;
        let scale = self
            .explicit_unit(decoder, prop.get_ref(2))
            .or(project)
            .unwrap_or(1.0);
        Some(PropertyValue::Real(v * scale))
    }

    /// The SI factor of an explicit `Unit` reference, when it is a length, area or volume unit.
    /// The factor to SI of a value of measure type `type_name`: the property's own unit
    /// (`explicit`) where the measure has a unit type the project converts, else 1.
    fn measure_scale(&self, type_name: &str, explicit: Option<f64>) -> f64 {
        match measure_unit(type_name) {
            Some(MeasureUnit::Typed { unit_type, .. }) => self
                .units
                .factor_for_unit_type(unit_type)
                .map_or(1.0, |project| explicit.unwrap_or(project)),
            _ => 1.0,
        }
    }

    fn explicit_unit(&self, decoder: &mut EntityDecoder, unit: Option<u32>) -> Option<f64> {
        let (unit_type, resolved, _) = ifc_lite_core::resolve_unit_by_ref(decoder, unit?)?;
        match unit_type.as_deref() {
            Some("LENGTHUNIT" | "AREAUNIT" | "VOLUMEUNIT") if resolved.si_scale.is_finite() => {
                Some(resolved.si_scale)
            }
            _ => None,
        }
    }

    /// A typed value; `explicit` overrides the project unit of a measure.
    fn value(&self, value: &AttributeValue, explicit: Option<f64>) -> Option<PropertyValue> {
        match value {
            AttributeValue::Typed { name, value } => self.typed(name, value, explicit),
            AttributeValue::String(s) => Some(PropertyValue::Text(s.clone())),
            AttributeValue::Integer(i) => Some(PropertyValue::Integer(*i)),
            AttributeValue::Float(f) => Some(PropertyValue::Real(*f)),
            AttributeValue::Enum(e) => Some(logical(e)),
            AttributeValue::EntityRef(id) => Some(PropertyValue::Other(format!("#{id}"))),
            AttributeValue::Null | AttributeValue::Derived => None,
            other => Some(PropertyValue::Other(format!("{other:?}"))),
        }
    }

    fn typed(
        &self,
        type_name: &str,
        value: &AttributeValue,
        explicit: Option<f64>,
    ) -> Option<PropertyValue> {
        match (type_name, value) {
            ("IFCBOOLEAN" | "IFCLOGICAL", AttributeValue::Enum(e)) => Some(logical(e)),
            (_, AttributeValue::String(s)) => Some(PropertyValue::Text(s.clone())),
            (_, AttributeValue::Enum(e)) => Some(PropertyValue::Text(e.clone())),
            (_, AttributeValue::Integer(i)) if !is_converted_measure(type_name) => {
                Some(PropertyValue::Integer(*i))
            }
            (_, AttributeValue::Integer(_) | AttributeValue::Float(_)) => {
                let v = value.as_float()?;
                Some(PropertyValue::Real(v * self.measure_scale(type_name, explicit)))
            }
            (_, AttributeValue::Null | AttributeValue::Derived) => None,
            (_, other) => Some(PropertyValue::Other(format!("{other:?}"))),
        }
    }
}

/// A value whose shape the token reader leaves to the decoder.
struct Unusual;

/// Whether a measure type is one whose values are converted to SI (length, area, volume).
fn is_converted_measure(type_name: &str) -> bool {
    matches!(
        measure_unit(type_name),
        Some(MeasureUnit::Typed {
            unit_type: "LENGTHUNIT" | "AREAUNIT" | "VOLUMEUNIT",
            ..
        })
    )
}

/// A STEP logical enum: `.T.`, `.F.`, `.U.`.
fn logical(e: &str) -> PropertyValue {
    match e.trim_matches('.').to_ascii_uppercase().as_str() {
        "T" | "TRUE" => PropertyValue::Bool(true),
        "F" | "FALSE" => PropertyValue::Bool(false),
        "U" | "UNKNOWN" => PropertyValue::Other("unknown".to_owned()),
        other => PropertyValue::Text(other.to_owned()),
    }
}

fn display(v: &PropertyValue) -> String {
    match v {
        PropertyValue::Text(s) | PropertyValue::Other(s) => s.clone(),
        PropertyValue::Real(f) => f.to_string(),
        PropertyValue::Integer(i) => i.to_string(),
        PropertyValue::Bool(b) => b.to_string(),
    }
}

/// A string attribute, trimmed, `None` when absent or empty.
pub(crate) fn text(entity: &DecodedEntity, index: usize) -> Option<String> {
    optional_text(entity.get_string(index)).map(str::to_owned)
}

/// Lower-cases the first character of an upstream message (house style).
pub(crate) fn lower(message: &str) -> String {
    let message = super::source::absent_span_said_plainly(message);
    let mut chars = message.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().collect::<String>() + chars.as_str().trim_end_matches('.'),
        None => String::new(),
    }
}
