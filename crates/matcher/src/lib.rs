//! Matching packages against advisories, with evidence; severity; exceptions
