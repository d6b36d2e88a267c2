//! Extractors: one per package format, fed by the image walk
