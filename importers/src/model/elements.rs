//! A model's elements: a list of [`Element`]s while a model is built, or a table of columns
//! read in place (from a cache entry mapped into memory) once it is loaded. Either way they
//! are read through [`ElementRef`], whose fields borrow from whichever holds them.
//!
//! The table is what makes a warm load a read instead of a build: a district of a thousand
//! buildings has about 380,000 elements, and building each as its own strings and lists
//! (five or six allocations, about 450 bytes of fresh memory each) was most of a warm load.
//! Read in place, the same elements are a few checked columns of the entry the cache mapped.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Element, Placement, PropertySet, PropertyValue};

/// A model's elements, in order.
#[derive(Clone, Default)]
pub struct Elements {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// Built element by element (importers, tests, edits).
    Owned(Vec<Element>),
    /// Columns read in place; with `placements` false, every element reads as having none
    /// (the model handed out before its geometry: [`Elements::without_placements`]).
    Table { table: Arc<Table>, placements: bool },
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Owned(Vec::new())
    }
}

impl std::fmt::Debug for Elements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Elements {
    /// No elements.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Owned(v) => v.len(),
            Repr::Table { table, .. } => table.rows().len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<ElementRef<'_>> {
        self.get_in(index, self.columns().as_ref())
    }

    /// A table's columns, sliced out of its bytes once for many reads (`None` for a list).
    fn columns(&self) -> Option<Columns<'_>> {
        match &self.repr {
            Repr::Owned(_) => None,
            Repr::Table { table, .. } => Some(table.columns()),
        }
    }

    /// [`Elements::get`] with the table's columns (from [`Elements::columns`]) at hand.
    fn get_in<'a>(&'a self, index: usize, columns: Option<&Columns<'a>>) -> Option<ElementRef<'a>> {
        match (&self.repr, columns) {
            (Repr::Owned(v), _) => v.get(index).map(ElementRef::of),
            (Repr::Table { table, placements }, Some(c)) => {
                let mut e = table.element(c, c.rows.get(index)?);
                if !placements {
                    e.placements = &[];
                }
                Some(e)
            }
            (Repr::Table { .. }, None) => None,
        }
    }

    /// The element at `index`.
    ///
    /// # Panics
    ///
    /// When `index` is not below [`Elements::len`], as indexing a list does.
    #[track_caller]
    pub fn at(&self, index: usize) -> ElementRef<'_> {
        match self.get(index) {
            Some(e) => e,
            None => panic!("element {index} of {}", self.len()),
        }
    }

    /// The elements in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            elements: self,
            columns: self.columns(),
            next: 0,
            end: self.len(),
        }
    }

    /// Appends `element` (a table is first turned into a list: see [`Elements::make_mut`]).
    pub fn push(&mut self, element: Element) {
        self.make_mut().push(element);
    }

    /// The elements as a list that can be edited. Elements read in place are copied into one
    /// first (each its own strings and lists again), so edits belong to building a model, not
    /// to reading a loaded one.
    pub fn make_mut(&mut self) -> &mut Vec<Element> {
        if let Repr::Table { .. } = &self.repr {
            let owned = self.iter().map(|e| e.to_element()).collect();
            self.repr = Repr::Owned(owned);
        }
        match &mut self.repr {
            Repr::Owned(v) => v,
            Repr::Table { .. } => unreachable!("a table was just turned into a list"),
        }
    }

    /// The elements as a list of their own (see [`Elements::make_mut`]).
    pub fn into_vec(mut self) -> Vec<Element> {
        std::mem::take(self.make_mut())
    }

    /// Whether the elements are read in place (from a cache entry) rather than built.
    pub fn is_read_in_place(&self) -> bool {
        matches!(self.repr, Repr::Table { .. })
    }

    /// The same elements without their placements (a model as parsed, before its geometry):
    /// elements read in place share their table; a list is copied.
    pub fn without_placements(&self) -> Elements {
        match &self.repr {
            Repr::Owned(v) => v
                .iter()
                .map(|e| Element {
                    placements: Vec::new(),
                    ..e.clone()
                })
                .collect(),
            Repr::Table { table, .. } => Self {
                repr: Repr::Table {
                    table: Arc::clone(table),
                    placements: false,
                },
            },
        }
    }

    pub(crate) fn from_table(table: Table) -> Self {
        Self {
            repr: Repr::Table {
                table: Arc::new(table),
                placements: true,
            },
        }
    }
}

impl From<Vec<Element>> for Elements {
    fn from(elements: Vec<Element>) -> Self {
        Self {
            repr: Repr::Owned(elements),
        }
    }
}

impl FromIterator<Element> for Elements {
    fn from_iter<I: IntoIterator<Item = Element>>(iter: I) -> Self {
        Vec::from_iter(iter).into()
    }
}

impl<'a> IntoIterator for &'a Elements {
    type Item = ElementRef<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The elements of an [`Elements`], in order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    elements: &'a Elements,
    /// A table's columns, sliced once for the whole iteration.
    columns: Option<Columns<'a>>,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = ElementRef<'a>;

    fn next(&mut self) -> Option<ElementRef<'a>> {
        if self.next >= self.end {
            return None;
        }
        self.next += 1;
        self.elements.get_in(self.next - 1, self.columns.as_ref())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }

    fn nth(&mut self, n: usize) -> Option<ElementRef<'a>> {
        self.next = self.next.saturating_add(n).min(self.end);
        self.next()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        self.end -= 1;
        self.elements.get_in(self.end, self.columns.as_ref())
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl std::iter::FusedIterator for Iter<'_> {}

/// One element, borrowed from the [`Elements`] that hold it: the fields of [`Element`].
#[derive(Clone, Copy)]
pub struct ElementRef<'a> {
    /// STEP instance id (`#id`) in the source file, 0 where the source has none.
    pub step_id: u32,
    /// GlobalId (IFC) or a stable id derived from the source.
    pub global_id: &'a str,
    /// IFC class, e.g. `IfcWallStandardCase` (city objects map to the nearest IFC class).
    pub class: &'a str,
    /// Name, if any.
    pub name: Option<&'a str>,
    /// Index into [`crate::Model::spatial`] of the container (usually a storey).
    pub container: Option<usize>,
    /// Name of its type object (IfcWallType …), if any.
    pub type_name: Option<&'a str>,
    /// Property and quantity sets, including those inherited from its type.
    pub property_sets: Sets<'a>,
    /// Geometry: zero or more mesh placements.
    pub placements: &'a [Placement],
    /// Material names, in file order without repeats.
    pub materials: Strs<'a>,
}

impl<'a> ElementRef<'a> {
    fn of(e: &'a Element) -> Self {
        Self {
            step_id: e.step_id,
            global_id: &e.global_id,
            class: &e.class,
            name: e.name.as_deref(),
            container: e.container,
            type_name: e.type_name.as_deref(),
            property_sets: Sets(SetsRepr::Shared(&e.property_sets)),
            placements: &e.placements,
            materials: Strs(StrsRepr::Owned(&e.materials)),
        }
    }

    /// The property `pset.name`, if present.
    pub fn property(&self, pset: &str, name: &str) -> Option<&'a PropertyValue> {
        self.property_sets
            .iter()
            .find(|p| p.name == pset)
            .and_then(|p| p.get(name))
    }

    /// An [`Element`] of its own with the same fields (its sets still shared).
    pub fn to_element(&self) -> Element {
        Element {
            step_id: self.step_id,
            global_id: self.global_id.to_owned(),
            class: self.class.to_owned(),
            name: self.name.map(str::to_owned),
            container: self.container,
            type_name: self.type_name.map(str::to_owned),
            property_sets: self.property_sets.iter().cloned().collect(),
            placements: self.placements.to_vec(),
            materials: self.materials.iter().map(str::to_owned).collect(),
        }
    }
}

impl std::fmt::Debug for ElementRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Element")
            .field("step_id", &self.step_id)
            .field("global_id", &self.global_id)
            .field("class", &self.class)
            .field("name", &self.name)
            .field("container", &self.container)
            .field("type_name", &self.type_name)
            .field("property_sets", &self.property_sets)
            .field("placements", &self.placements)
            .field("materials", &self.materials)
            .finish()
    }
}

/// An element's property sets: shared [`PropertySet`]s, in order.
#[derive(Clone, Copy)]
pub struct Sets<'a>(SetsRepr<'a>);

#[derive(Clone, Copy)]
enum SetsRepr<'a> {
    Shared(&'a [Arc<PropertySet>]),
    /// Indices into the table's sets (checked when the table was read).
    Indexed {
        at: &'a [u32],
        sets: &'a [Arc<PropertySet>],
    },
}

impl<'a> Sets<'a> {
    /// How many.
    pub fn len(&self) -> usize {
        match self.0 {
            SetsRepr::Shared(s) => s.len(),
            SetsRepr::Indexed { at, .. } => at.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The set at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&'a Arc<PropertySet>> {
        match self.0 {
            SetsRepr::Shared(s) => s.get(index),
            SetsRepr::Indexed { at, sets } => at.get(index).and_then(|&i| sets.get(i as usize)),
        }
    }

    /// The sets in order.
    pub fn iter(&self) -> SetsIter<'a> {
        SetsIter {
            sets: *self,
            next: 0,
        }
    }
}

impl Default for Sets<'_> {
    fn default() -> Self {
        Sets(SetsRepr::Shared(&[]))
    }
}

impl std::fmt::Debug for Sets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Sets<'a> {
    type Item = &'a Arc<PropertySet>;
    type IntoIter = SetsIter<'a>;

    fn into_iter(self) -> SetsIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Sets<'a> {
    type Item = &'a Arc<PropertySet>;
    type IntoIter = SetsIter<'a>;

    fn into_iter(self) -> SetsIter<'a> {
        self.iter()
    }
}

/// The sets of a [`Sets`], in order.
#[derive(Debug, Clone)]
pub struct SetsIter<'a> {
    sets: Sets<'a>,
    next: usize,
}

impl<'a> Iterator for SetsIter<'a> {
    type Item = &'a Arc<PropertySet>;

    fn next(&mut self) -> Option<Self::Item> {
        let set = self.sets.get(self.next)?;
        self.next += 1;
        Some(set)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.sets.len().saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for SetsIter<'_> {}

/// A list of names (an element's materials).
#[derive(Clone, Copy)]
pub struct Strs<'a>(StrsRepr<'a>);

#[derive(Clone, Copy)]
enum StrsRepr<'a> {
    Owned(&'a [String]),
    /// Spans of the table's text (checked when the table was read).
    Spans {
        spans: &'a [Span],
        text: &'a [u8],
    },
}

impl<'a> Strs<'a> {
    /// How many.
    pub fn len(&self) -> usize {
        match self.0 {
            StrsRepr::Owned(s) => s.len(),
            StrsRepr::Spans { spans, .. } => spans.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&'a str> {
        match self.0 {
            StrsRepr::Owned(s) => s.get(index).map(String::as_str),
            StrsRepr::Spans { spans, text } => {
                spans.get(index).map(|s| s.of(text).unwrap_or_default())
            }
        }
    }

    /// The names in order.
    pub fn iter(&self) -> StrsIter<'a> {
        StrsIter {
            strs: *self,
            next: 0,
        }
    }

    /// Whether `name` is one of them.
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|s| s == name)
    }

    /// The names as a list of their own.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }
}

impl Default for Strs<'_> {
    fn default() -> Self {
        Strs(StrsRepr::Owned(&[]))
    }
}

impl<S: AsRef<str>> PartialEq<[S]> for Strs<'_> {
    fn eq(&self, other: &[S]) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for Strs<'_> {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for Strs<'_> {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

impl std::fmt::Debug for Strs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Strs<'a> {
    type Item = &'a str;
    type IntoIter = StrsIter<'a>;

    fn into_iter(self) -> StrsIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Strs<'a> {
    type Item = &'a str;
    type IntoIter = StrsIter<'a>;

    fn into_iter(self) -> StrsIter<'a> {
        self.iter()
    }
}

/// The names of a [`Strs`], in order.
#[derive(Debug, Clone)]
pub struct StrsIter<'a> {
    strs: Strs<'a>,
    next: usize,
}

impl<'a> Iterator for StrsIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.strs.get(self.next)?;
        self.next += 1;
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.strs.len().saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for StrsIter<'_> {}

// Serialized as the elements' own serde form (JSON output stays the same whichever holds
// them); read back as a list.
impl Serialize for Elements {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Elements {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        Vec::<Element>::deserialize(de).map(Elements::from)
    }
}

impl Serialize for ElementRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Element", 9)?;
        s.serialize_field("step_id", &self.step_id)?;
        s.serialize_field("global_id", self.global_id)?;
        s.serialize_field("class", self.class)?;
        s.serialize_field("name", &self.name)?;
        s.serialize_field("container", &self.container)?;
        s.serialize_field("type_name", &self.type_name)?;
        s.serialize_field("property_sets", &self.property_sets)?;
        s.serialize_field("placements", self.placements)?;
        s.serialize_field("materials", &self.materials)?;
        s.end()
    }
}

/// Serialized as a list of the sets.
impl Serialize for Sets<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(|s| &**s))
    }
}

/// Serialized as a list of the names.
impl Serialize for Strs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// A span of a table's text: `len` bytes from `start`; `len` [`Span::NONE`] for no string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Span {
    /// The `len` of an absent string (a `None` name).
    pub(crate) const NONE: u32 = u32::MAX;

    /// The string it spans of `text`; `None` when absent, out of range or not UTF-8 (never
    /// the case in a table that [`Table::new`] accepted). Each string is checked as it is
    /// read (a table's strings are short), so that no unchecked text is ever lent.
    fn of(self, text: &[u8]) -> Option<&str> {
        if self.len == Self::NONE {
            return None;
        }
        let start = self.start as usize;
        std::str::from_utf8(text.get(start..start.checked_add(self.len as usize)?)?).ok()
    }
}

/// A run of a column: `len` items from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub(crate) struct Run {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Run {
    fn of<T>(self, column: &[T]) -> &[T] {
        let start = self.start as usize;
        column
            .get(start..start + self.len as usize)
            .unwrap_or_default()
    }
}

/// One element of a table: its numbers, and its strings and lists as spans and runs of the
/// table's columns. 64 bytes, no padding: written and read as it is in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub(crate) struct Row {
    pub(crate) step_id: u32,
    /// Index of the container in the model's spatial nodes, [`Row::NO_CONTAINER`] for none.
    pub(crate) container: u32,
    pub(crate) global_id: Span,
    pub(crate) class: Span,
    pub(crate) name: Span,
    pub(crate) type_name: Span,
    /// Of [`Columns::set_at`].
    pub(crate) sets: Run,
    /// Of [`Columns::placements`].
    pub(crate) placements: Run,
    /// Of [`Columns::materials`].
    pub(crate) materials: Run,
}

impl Row {
    pub(crate) const NO_CONTAINER: u32 = u32::MAX;
}

/// The columns of a table, borrowed from wherever they are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Columns<'a> {
    pub(crate) rows: &'a [Row],
    /// Every string of the rows, one after another (repeated names written once), UTF-8.
    pub(crate) text: &'a [u8],
    /// Indices of the sets (in [`Table::sets`]) of every row, one run per row.
    pub(crate) set_at: &'a [u32],
    pub(crate) placements: &'a [Placement],
    /// Spans of the material names of every row, one run per row.
    pub(crate) materials: &'a [Span],
}

/// Where a table's columns are: a mapped cache entry, or (tests) bytes of its own.
pub(crate) trait Backing: Send + Sync + std::fmt::Debug {
    fn bytes(&self) -> &[u8];
}

/// Byte ranges of the columns in their backing.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) rows: std::ops::Range<usize>,
    pub(crate) text: std::ops::Range<usize>,
    pub(crate) set_at: std::ops::Range<usize>,
    pub(crate) placements: std::ops::Range<usize>,
    pub(crate) materials: std::ops::Range<usize>,
}

/// Why a table's columns could not be read in place.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TableError {
    #[error("the {0} column is out of range, misaligned or of a partial size")]
    Column(&'static str),
    #[error("element {row}: its {what} is out of range")]
    Row { row: usize, what: &'static str },
}

/// Columns read in place: checked once when read, then lent without further checks.
#[derive(Debug)]
pub(crate) struct Table {
    backing: Box<dyn Backing>,
    layout: Layout,
    sets: Vec<Arc<PropertySet>>,
}

/// The columns at `layout` of `bytes`: each in range, aligned and a whole number of items.
fn columns_of<'a>(bytes: &'a [u8], l: &Layout) -> Result<Columns<'a>, TableError> {
    Ok(Columns {
        rows: column(bytes, &l.rows, "element")?,
        text: bytes
            .get(l.text.clone())
            .ok_or(TableError::Column("text"))?,
        set_at: column(bytes, &l.set_at, "property set")?,
        placements: column(bytes, &l.placements, "placement")?,
        materials: column(bytes, &l.materials, "material")?,
    })
}

fn column<'a, T: bytemuck::AnyBitPattern>(
    bytes: &'a [u8],
    range: &std::ops::Range<usize>,
    name: &'static str,
) -> Result<&'a [T], TableError> {
    let raw = bytes.get(range.clone()).ok_or(TableError::Column(name))?;
    bytemuck::try_cast_slice(raw).map_err(|_| TableError::Column(name))
}

impl Table {
    /// The table whose columns are at `layout` in `backing`, its rows' set indices into
    /// `sets`, its containers below `spatial`: every span, run, index and container
    /// checked ([`Table::check`]), so that every element reads as written.
    #[cfg(test)]
    pub(crate) fn new(
        backing: Box<dyn Backing>,
        layout: Layout,
        sets: Vec<Arc<PropertySet>>,
        spatial: usize,
    ) -> Result<Self, TableError> {
        Self::check(backing.bytes(), &layout, sets.len(), spatial)?;
        Ok(Self::checked(backing, layout, sets))
    }

    /// The table of columns that [`Table::check`] accepted with `sets.len()` sets (a table
    /// that was not checked still never panics; its elements may read as empty strings and
    /// lists).
    pub(crate) fn checked(
        backing: Box<dyn Backing>,
        layout: Layout,
        sets: Vec<Arc<PropertySet>>,
    ) -> Self {
        Self {
            backing,
            layout,
            sets,
        }
    }

    /// Checks the columns at `layout` of `bytes` for a table read with `sets` sets and
    /// `spatial` spatial nodes: every span in the text and on character boundaries, every run
    /// in its column, every set index below `sets`, every container below `spatial`.
    pub(crate) fn check(
        bytes: &[u8],
        layout: &Layout,
        sets: usize,
        spatial: usize,
    ) -> Result<(), TableError> {
        use rayon::prelude::*;
        let c = columns_of(bytes, layout)?;
        // The text is UTF-8 as a whole, so a span of it is UTF-8 when it starts and ends on
        // character boundaries: one pass over the text, not one per string.
        let text = std::str::from_utf8(c.text).map_err(|_| TableError::Column("text"))?;
        if c.set_at.par_iter().any(|&i| i as usize >= sets) {
            return Err(TableError::Column("property set"));
        }
        let spans = |s: Span| {
            let start = s.start as usize;
            s.len == Span::NONE
                || start.checked_add(s.len as usize).is_some_and(|end| {
                    end <= text.len() && text.is_char_boundary(start) && text.is_char_boundary(end)
                })
        };
        let run = |r: Run, len: usize| {
            (r.start as usize)
                .checked_add(r.len as usize)
                .is_some_and(|end| end <= len)
        };
        if c.materials
            .par_iter()
            .any(|&s| s.len == Span::NONE || !spans(s))
        {
            return Err(TableError::Column("material"));
        }
        let bad = c.rows.par_iter().enumerate().find_map_any(|(row, r)| {
            let what = if r.global_id.len == Span::NONE
                || r.class.len == Span::NONE
                || !spans(r.global_id)
                || !spans(r.class)
            {
                "identifier or class"
            } else if !spans(r.name) || !spans(r.type_name) {
                "name or type name"
            } else if r.container != Row::NO_CONTAINER && r.container as usize >= spatial {
                "container"
            } else if !run(r.sets, c.set_at.len()) {
                "property sets"
            } else if !run(r.placements, c.placements.len()) {
                "placements"
            } else if !run(r.materials, c.materials.len()) {
                "materials"
            } else {
                return None;
            };
            Some(TableError::Row { row, what })
        });
        match bad {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    fn columns(&self) -> Columns<'_> {
        // Checked in `new`: the backing never changes.
        columns_of(self.backing.bytes(), &self.layout).unwrap_or(Columns {
            rows: &[],
            text: &[],
            set_at: &[],
            placements: &[],
            materials: &[],
        })
    }

    fn rows(&self) -> &[Row] {
        let bytes = self.backing.bytes();
        column(bytes, &self.layout.rows, "element").unwrap_or_default()
    }

    fn element<'a>(&'a self, c: &Columns<'a>, r: &Row) -> ElementRef<'a> {
        let text = |s: Span| s.of(c.text);
        ElementRef {
            step_id: r.step_id,
            global_id: text(r.global_id).unwrap_or_default(),
            class: text(r.class).unwrap_or_default(),
            name: text(r.name),
            container: (r.container != Row::NO_CONTAINER).then_some(r.container as usize),
            type_name: text(r.type_name),
            property_sets: Sets(SetsRepr::Indexed {
                at: r.sets.of(c.set_at),
                sets: &self.sets,
            }),
            placements: r.placements.of(c.placements),
            materials: Strs(StrsRepr::Spans {
                spans: r.materials.of(c.materials),
                text: c.text,
            }),
        }
    }
}

/// Bytes of the counts at the head of a written table (four little-endian `u64`s: rows, set
/// indices, placements, material spans). The text's length, known only once the rows are
/// written, is the table's last eight bytes.
const TABLE_HEAD: usize = 4 * 8;

/// Bytes of the text's length at the end of a written table.
const TABLE_FOOT: usize = 8;

/// The layout of a table of these counts (rows, text bytes, set indices, placements, material
/// spans) from `start` (8-aligned): the head, the rows, the placements and the material spans
/// (all 8-byte items), the set indices and the text, each padded to 8 bytes; and where the
/// text's length ends the table. `None` when it would not fit in `usize`.
fn layout_of(start: usize, counts: [u64; 5]) -> Option<(Layout, usize)> {
    let [rows, text, set_at, placements, materials] = counts.map(usize::try_from);
    let (rows, text, set_at, placements, materials) = (
        rows.ok()?,
        text.ok()?,
        set_at.ok()?,
        placements.ok()?,
        materials.ok()?,
    );
    let mut at = start.checked_add(TABLE_HEAD)?;
    let mut next = |bytes: usize| -> Option<std::ops::Range<usize>> {
        let range = at..at.checked_add(bytes)?;
        at = range.end.checked_next_multiple_of(8)?;
        Some(range)
    };
    let rows = next(rows.checked_mul(size_of::<Row>())?)?;
    let placements = next(placements.checked_mul(size_of::<Placement>())?)?;
    let materials = next(materials.checked_mul(size_of::<Span>())?)?;
    let set_at = next(set_at.checked_mul(size_of::<u32>())?)?;
    let text = next(text)?;
    Some((
        Layout {
            rows,
            text,
            set_at,
            placements,
            materials,
        },
        at.checked_add(TABLE_FOOT)?,
    ))
}

/// The layout of the table written at `start` (8-aligned) of `bytes`, which it ends.
pub(crate) fn read_layout(bytes: &[u8], start: usize) -> Result<Layout, TableError> {
    let count = |at: usize| -> Result<u64, TableError> {
        at.checked_add(8)
            .and_then(|end| bytes.get(at..end))
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or(TableError::Column("count"))
    };
    let [rows, set_at, placements, materials] =
        [0, 8, 16, 24].map(|k| start.checked_add(k).map(count));
    let head = |c: Option<Result<u64, TableError>>| c.unwrap_or(Err(TableError::Column("count")));
    let text = count(
        bytes
            .len()
            .checked_sub(TABLE_FOOT)
            .ok_or(TableError::Column("count"))?,
    )?;
    let counts = [
        head(rows)?,
        text,
        head(set_at)?,
        head(placements)?,
        head(materials)?,
    ];
    let (layout, end) = layout_of(start, counts).ok_or(TableError::Column("count"))?;
    if end != bytes.len() {
        return Err(TableError::Column("element"));
    }
    Ok(layout)
}

/// Writes `elements` as a table (the counts, the columns of [`layout_of`], each padded to 8
/// bytes, then the text's length) to `out`, which must be at an 8-aligned offset of what will
/// be read in place, the table ending it; `set_index` gives a set's index in the sets the
/// table will be read with. Names, classes, type names and materials are written once each
/// however many elements share them. Each row is written as it is made: what is held for
/// the write is the text, the set indices and the material spans. Returns the bytes written.
/// Written little-endian, as the table is read on little-endian machines.
pub(crate) fn write_table<'e>(
    elements: &'e Elements,
    set_index: &dyn Fn(&Arc<PropertySet>) -> u32,
    out: &mut impl std::io::Write,
) -> std::io::Result<u64> {
    let too_large =
        || std::io::Error::other("a model's elements are over 4 GiB of text or 2^32 items");
    let mut text: Vec<u8> = Vec::new();
    let mut seen: rustc_hash::FxHashMap<&'e str, Span> = Default::default();
    let sum = |n: fn(ElementRef<'_>) -> usize| elements.iter().map(n).sum::<usize>();
    let set_uses = sum(|e| e.property_sets.len());
    let placements = sum(|e| e.placements.len());
    let material_uses = sum(|e| e.materials.len());
    let mut set_at = Vec::with_capacity(set_uses);
    let mut materials = Vec::with_capacity(material_uses);
    let mut put = |s: &'e str, shared: bool, text: &mut Vec<u8>| -> std::io::Result<Span> {
        if shared && let Some(&span) = seen.get(s) {
            return Ok(span);
        }
        let span = Span {
            start: u32::try_from(text.len()).map_err(|_| too_large())?,
            len: u32::try_from(s.len())
                .ok()
                .filter(|&l| l != Span::NONE)
                .ok_or_else(too_large)?,
        };
        text.extend_from_slice(s.as_bytes());
        if shared {
            seen.insert(s, span);
        }
        Ok(span)
    };
    let none = Span {
        start: 0,
        len: Span::NONE,
    };
    let count = |n: usize| u32::try_from(n).map_err(|_| too_large());
    let head = [elements.len(), set_uses, placements, material_uses].map(|n| n as u64);
    let mut w = Counting { out, written: 0 };
    for c in head {
        w.put(&c.to_le_bytes())?;
    }
    let mut placed = 0usize;
    for e in elements {
        let sets = Run {
            start: count(set_at.len())?,
            len: count(e.property_sets.len())?,
        };
        set_at.extend(e.property_sets.iter().map(set_index));
        let material_run = Run {
            start: count(materials.len())?,
            len: count(e.materials.len())?,
        };
        for m in e.materials {
            materials.push(put(m, true, &mut text)?);
        }
        let placement_run = Run {
            start: count(placed)?,
            len: count(e.placements.len())?,
        };
        placed += e.placements.len();
        let row = Row {
            step_id: e.step_id,
            container: match e.container {
                Some(c) => u32::try_from(c)
                    .ok()
                    .filter(|&c| c != Row::NO_CONTAINER)
                    .ok_or_else(too_large)?,
                None => Row::NO_CONTAINER,
            },
            global_id: put(e.global_id, false, &mut text)?,
            class: put(e.class, true, &mut text)?,
            name: match e.name {
                Some(n) => put(n, true, &mut text)?,
                None => none,
            },
            type_name: match e.type_name {
                Some(n) => put(n, true, &mut text)?,
                None => none,
            },
            sets,
            placements: placement_run,
            materials: material_run,
        };
        w.put(bytemuck::bytes_of(&row))?;
    }
    let counts = [
        elements.len(),
        text.len(),
        set_uses,
        placements,
        material_uses,
    ]
    .map(|n| n as u64);
    let (layout, end) = layout_of(0, counts).ok_or_else(too_large)?;
    w.pad_to(layout.placements.start)?;
    for e in elements {
        for p in e.placements {
            // Field by field: a placement has four bytes of padding after its mesh.
            let mut bytes = [0u8; size_of::<Placement>()];
            bytes[..4].copy_from_slice(&p.mesh.0.to_le_bytes());
            for (k, v) in p.transform.iter().enumerate() {
                bytes[8 + 8 * k..16 + 8 * k].copy_from_slice(&v.to_le_bytes());
            }
            w.put(&bytes)?;
        }
    }
    w.pad_to(layout.materials.start)?;
    w.put(bytemuck::cast_slice(&materials))?;
    w.pad_to(layout.set_at.start)?;
    w.put(bytemuck::cast_slice(&set_at))?;
    w.pad_to(layout.text.start)?;
    w.put(&text)?;
    w.pad_to(end - TABLE_FOOT)?;
    w.put(&(text.len() as u64).to_le_bytes())?;
    Ok(w.written as u64)
}

/// A writer that counts what it has written.
struct Counting<'w, W> {
    out: &'w mut W,
    written: usize,
}

impl<W: std::io::Write> Counting<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len();
        Ok(())
    }

    /// Zeros up to `at` bytes written.
    fn pad_to(&mut self, at: usize) -> std::io::Result<()> {
        const ZEROS: [u8; 8] = [0; 8];
        while self.written < at {
            let n = (at - self.written).min(ZEROS.len());
            self.put(&ZEROS[..n])?;
        }
        Ok(())
    }
}

/// A table's bytes of its own, 8-aligned (tests).
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct OwnedBytes {
    words: Vec<u64>,
    len: usize,
}

#[cfg(test)]
impl OwnedBytes {
    pub(crate) fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Self {
            words,
            len: bytes.len(),
        }
    }
}

#[cfg(test)]
impl Backing for OwnedBytes {
    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MeshId, Property};

    fn set(name: &str) -> Arc<PropertySet> {
        Arc::new(PropertySet {
            name: name.to_owned(),
            properties: vec![Property {
                name: "P".to_owned(),
                value: PropertyValue::Text(format!("{name} 值")),
            }],
        })
    }

    /// Elements with every kind of field: names in Chinese (three-byte characters), absent
    /// names, shared and repeated strings, no and several sets, placements and materials.
    fn sample(sets: &[Arc<PropertySet>]) -> Vec<Element> {
        (0..50u32)
            .map(|i| Element {
                step_id: i * 3,
                global_id: format!("{i:022}"),
                class: ["IfcWall", "IfcWindow", "IfcSlab"][i as usize % 3].to_owned(),
                name: (i % 4 != 0).then(|| format!("墙 {}", i % 5)),
                container: (i % 6 != 0).then_some(i as usize % 3),
                type_name: (i % 2 == 0).then(|| "类型 A".to_owned()),
                property_sets: sets.iter().take(i as usize % 4).cloned().collect(),
                placements: (0..i % 3)
                    .map(|k| Placement {
                        mesh: MeshId(k),
                        transform: std::array::from_fn(|j| (i * 16 + j as u32) as f64 * 0.5 - 3.0),
                    })
                    .collect(),
                materials: ["混凝土", "Brick", "混凝土 C30"][..i as usize % 4]
                    .iter()
                    .map(|m| m.to_string())
                    .collect(),
            })
            .collect()
    }

    fn table_of(
        elements: &Elements,
        sets: &[Arc<PropertySet>],
        spatial: usize,
    ) -> Result<Elements, TableError> {
        let index = |s: &Arc<PropertySet>| {
            sets.iter()
                .position(|t| Arc::ptr_eq(s, t))
                .unwrap_or(usize::MAX) as u32
        };
        let mut bytes = Vec::new();
        let written = write_table(elements, &index, &mut bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(written as usize, bytes.len());
        let layout = read_layout(&bytes, 0)?;
        let table = Table::new(
            Box::new(OwnedBytes::new(&bytes)),
            layout,
            sets.to_vec(),
            spatial,
        )?;
        Ok(Elements::from_table(table))
    }

    #[test]
    fn a_table_reads_back_the_elements_it_was_written_from() {
        let sets = [set("Pset_A"), set("Pset_B"), set("Pset_C")];
        let list = Elements::from(sample(&sets));
        let table = table_of(&list, &sets, 3).unwrap_or_else(|e| panic!("{e}"));
        assert!(table.is_read_in_place() && !list.is_read_in_place());
        assert_eq!(table.len(), 50);
        // The same fields, read either way; the same JSON as a list of elements.
        assert_eq!(format!("{table:?}"), format!("{list:?}"));
        let json = |e: &Elements| serde_json::to_string(e).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json(&table), json(&list));
        let owned: Vec<Element> = sample(&sets);
        assert_eq!(
            json(&table),
            serde_json::to_string(&owned).unwrap_or_default()
        );
        // Sets come back as the same allocations.
        for (a, b) in table.iter().zip(&list) {
            assert_eq!(a.property_sets.len(), b.property_sets.len());
            assert!(
                a.property_sets
                    .iter()
                    .zip(b.property_sets)
                    .all(|(x, y)| Arc::ptr_eq(x, y))
            );
            assert_eq!(a.materials, b.materials.to_vec());
        }
        let e = table.at(13);
        assert_eq!(
            (e.name, e.type_name, e.container),
            (Some("墙 3"), None, Some(1))
        );
        assert_eq!(
            e.property("Pset_A", "P"),
            Some(&PropertyValue::Text("Pset_A 值".into()))
        );
        assert_eq!(e.materials, ["混凝土"]);
        assert!(table.get(50).is_none());
        assert_eq!(table.iter().next_back().map(|e| e.step_id), Some(49 * 3));
        // Read back as a list, edited, the others unchanged.
        let mut edited = table.clone();
        edited.push(Element::default());
        assert_eq!(edited.len(), 51);
        assert_eq!(format!("{:?}", edited.at(7)), format!("{:?}", table.at(7)));
        assert_eq!(edited.into_vec().len(), 51);
        // Without placements: the same table, every element unplaced, the rest the same.
        for bare in [table.without_placements(), list.without_placements()] {
            assert_eq!(bare.len(), 50);
            assert!(bare.iter().all(|e| e.placements.is_empty()));
            assert_eq!(bare.at(20).name, table.at(20).name);
            assert!(bare.into_vec().iter().all(|e| e.placements.is_empty()));
        }
        assert!(table.without_placements().is_read_in_place());
    }

    #[test]
    fn a_table_that_does_not_fit_its_model_is_refused() {
        let sets = [set("Pset_A"), set("Pset_B"), set("Pset_C")];
        let list = Elements::from(sample(&sets));
        // Containers 0..3 need three spatial nodes; set indices 0..3 need three sets.
        assert!(matches!(
            table_of(&list, &sets, 2),
            Err(TableError::Row {
                what: "container",
                ..
            })
        ));
        assert!(matches!(
            table_of(&list, &sets[..2], 3),
            Err(TableError::Column("property set"))
        ));
        // A span into the middle of a three-byte character.
        let text = Span { start: 1, len: 2 };
        assert_eq!(text.of("混".as_bytes()), None);
        assert_eq!(Span { start: 0, len: 3 }.of("混".as_bytes()), Some("混"));
        assert_eq!(
            Span {
                start: 0,
                len: Span::NONE
            }
            .of(b"x"),
            None
        );
        assert_eq!(
            Span {
                start: u32::MAX,
                len: 2
            }
            .of(b"x"),
            None
        );
        // Counts that overflow, or that do not end where the table does, are refused, not
        // allocated.
        let mut empty = Vec::new();
        write_table(&Elements::new(), &|_| 0, &mut empty).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(empty.len(), TABLE_HEAD + TABLE_FOOT);
        assert!(read_layout(&empty, 0).is_ok());
        let mut head = empty.clone();
        head[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(read_layout(&head, 0).is_err());
        let mut foot = empty.clone();
        foot[TABLE_HEAD..].copy_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(read_layout(&foot, 0).is_err());
        let mut rows = empty.clone();
        rows[..8].copy_from_slice(&1u64.to_le_bytes());
        assert!(read_layout(&rows, 0).is_err());
        assert!(read_layout(&empty[..7], 0).is_err());
        assert!(read_layout(&empty[..TABLE_HEAD], 0).is_err());
    }
}
