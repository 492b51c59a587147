//! JSON Schemas of the documents of the mycelium.
