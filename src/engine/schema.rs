//! The JSON Schema of the DAG file format (version 1), for editors
//! (yaml-language-server) and other tools. The validator in [`super::validate`] is the
//! authority; a test checks every example and fixture against both.

/// The schema, as JSON text.
pub const SCHEMA: &str = include_str!("schema.json");
