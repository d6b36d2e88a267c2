//! Vulnerability database: ingest of OSV, distro trackers, npm, NVD; embedded storage
