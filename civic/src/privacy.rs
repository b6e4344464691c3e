//! The single place where a record becomes what a viewer may see.
//!
//! Each record type declares every field it can show with a [`Class`]: **public** (anyone,
//! including visitors and the public stream), **internal** (government and professionals, and
//! the account the record belongs to), **personal** (only the account the record belongs to,
//! not even staff: the choice on a secret ballot) or **confidential** (never leaves the server: password
//! hashes, phone numbers, household identities, who voted for what). Each field is declared once,
//! with its class and how its value is read ([`Field`]), so no field can leave without a class;
//! [`view`] keeps only the fields the [`Audience`] may see. Hidden (moderated) content also
//! loses its [`Record::HIDEABLE`] fields for viewers who are neither staff nor its author.
//!
//! The HTTP handlers and the WebSocket feed ([`super::live`]) both call [`view`]; nothing else
//! turns a record into JSON.

use serde_json::{Map, Value};

use super::auth::Audience;

/// How far a field may travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Anyone, including public visitors and the public stream.
    Public,
    /// Government and professionals, and the account the record belongs to.
    Internal,
    /// Only the account the record belongs to, never staff (a secret ballot's choice).
    Personal,
    /// Never served.
    Confidential,
}

/// One field of a record: its name, its class, and how its value is read.
#[derive(Debug)]
pub struct Field<R: 'static> {
    /// Name in the JSON form.
    pub name: &'static str,
    /// How far it may travel.
    pub class: Class,
    /// Its value in `record`.
    pub value: fn(&R) -> Value,
}

impl<R> Field<R> {
    /// A field `name` of class `class` whose value `value` reads.
    pub const fn new(name: &'static str, class: Class, value: fn(&R) -> Value) -> Self {
        Self { name, class, value }
    }
}

/// A record with classified fields.
pub trait Record: Sized + 'static {
    /// Record name in the classification table, e.g. `comment`.
    const KIND: &'static str;
    /// Every field with its class and value, in the order they are shown.
    const FIELDS: &'static [Field<Self>];
    /// Fields withheld from the public while the record is hidden by moderation.
    const HIDEABLE: &'static [&'static str] = &[];
    /// The account the record belongs to, who sees its internal fields.
    fn owner(&self) -> Option<i64>;
    /// Whether moderation hides it.
    fn hidden(&self) -> bool {
        false
    }
}

/// The class of `field` of `R`; confidential when undeclared.
pub fn class_of<R: Record>(field: &str) -> Class {
    R::FIELDS.iter().find(|f| f.name == field).map_or(Class::Confidential, |f| f.class)
}

/// `record` as `audience` may see it.
pub fn view<R: Record>(record: &R, audience: Audience) -> Value {
    let owner = record.owner().is_some() && record.owner() == audience.account();
    let internal = audience.is_staff() || owner;
    let withhold = record.hidden() && !internal;
    let mut map = Map::new();
    for field in R::FIELDS {
        let visible = match field.class {
            Class::Public => true,
            Class::Internal => internal,
            Class::Personal => owner,
            Class::Confidential => false,
        };
        if visible && !(withhold && R::HIDEABLE.contains(&field.name)) {
            map.insert(field.name.to_owned(), (field.value)(record));
        }
    }
    Value::Object(map)
}

/// Views of many records.
pub fn views<R: Record>(records: &[R], audience: Audience) -> Value {
    Value::Array(records.iter().map(|r| view(r, audience)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sample {
        owner: i64,
        hidden: bool,
    }

    impl Record for Sample {
        const KIND: &'static str = "sample";
        const FIELDS: &'static [Field<Self>] = &[
            Field::new("id", Class::Public, |_| 1.into()),
            Field::new("body", Class::Public, |_| "hi".into()),
            Field::new("author_name", Class::Internal, |_| "Wang".into()),
            Field::new("phone", Class::Confidential, |_| "13800000000".into()),
        ];
        const HIDEABLE: &'static [&'static str] = &["body"];
        fn owner(&self) -> Option<i64> {
            Some(self.owner)
        }
        fn hidden(&self) -> bool {
            self.hidden
        }
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default()
    }

    #[test]
    fn each_audience_sees_only_its_classes_and_confidential_fields_never_leave() {
        let s = Sample { owner: 7, hidden: false };
        assert_eq!(keys(&view(&s, Audience::Public)), ["body", "id"]);
        assert_eq!(keys(&view(&s, Audience::Account { id: 8, staff: false })), ["body", "id"]);
        assert_eq!(keys(&view(&s, Audience::Account { id: 7, staff: false })), ["author_name", "body", "id"]);
        assert_eq!(keys(&view(&s, Audience::Account { id: 9, staff: true })), ["author_name", "body", "id"]);
    }

    #[test]
    fn hidden_records_lose_their_text_for_the_public_only() {
        let s = Sample { owner: 7, hidden: true };
        assert_eq!(keys(&view(&s, Audience::Public)), ["id"]);
        assert_eq!(keys(&view(&s, Audience::Account { id: 9, staff: true })), ["author_name", "body", "id"]);
    }

    #[test]
    fn no_public_field_of_any_record_is_personal() {
        let table = crate::classification();
        for (record, fields) in table.as_object().into_iter().flatten() {
            for (field, class) in fields.as_object().into_iter().flatten() {
                let personal = ["name", "phone", "household", "username", "password", "building", "alternative"];
                if class == "public" {
                    assert!(
                        !personal.iter().any(|p| field.contains(p)) || field == "author_role",
                        "{record}.{field} is public but looks personal"
                    );
                }
            }
        }
    }
}
