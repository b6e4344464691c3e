//! IFC (STEP physical file) import through ifc-lite: the helper owning this module replaces
//! this placeholder with the real importer.

use crate::{ImportConfig, ImportError, Importer, Model};

/// Imports IFC2X3, IFC4 and IFC4X3 files.
#[derive(Debug, Clone, Copy, Default)]
pub struct IfcImporter;

impl Importer for IfcImporter {
    fn format(&self) -> &'static str {
        "IFC"
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let text = String::from_utf8_lossy(head);
        text.trim_start_matches('\u{feff}').trim_start().starts_with("ISO-10303-21")
    }

    fn import_bytes(&self, name: &str, _bytes: &[u8], _config: &ImportConfig) -> Result<Model, ImportError> {
        Err(ImportError::NotReadable { path: name.to_owned(), format: "IFC", reason: "importer not written yet".into() })
    }
}
