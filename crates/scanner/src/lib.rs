//! The pipeline put together: image, catalog, match, report, with a result cache
