//! Unit tests of the IFC importer on small hand-written files.
