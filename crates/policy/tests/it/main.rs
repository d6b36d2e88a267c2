//! Integration tests of portcullis-policy: loading, the CRD, evaluation.

mod crd;
mod evaluate;
mod load;
mod properties;
mod supply_chain;
