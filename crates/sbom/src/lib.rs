//! CycloneDX and SPDX encoding and decoding of an inventory
