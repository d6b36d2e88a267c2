//! ContainerAdmissionPolicy types, Calico's selector language and pure evaluation.
//!
//! This crate does no IO beyond reading policy files in [`load_dir`]: the webhook and the
//! CLI hand it labels and scan facts, and it hands back a [`Decision`]. The flow is
//! text → [`ContainerAdmissionPolicy`] (wire shape) → [`Policy`] (checked, compiled) →
//! [`PolicySet`] (ordered) → [`decide`].

mod crd;
mod evaluate;
mod index;
mod load;
mod policy;
mod selector;

pub use crd::{
    API_VERSION, Action, AgeMatch, AgeOperator, AttestationMatch, CALICO_API_VERSION,
    CertificateMatch, ContainerAdmissionPolicy, ContainerVulnerabilityException, EXCEPTION_KIND,
    ExceptionScopeName, ExceptionSpec, GROUP, ImageConfigMatch, KIND, Mode, ObjectMeta, PolicySpec,
    Rule, ScanAge, ScoreMatch, ScoreOperator, SetOperator, SignatureMatch, StatusMatch,
    StringMatch, TimeMatch, TimeOperator, crd_yaml, custom_resource_definition, exception_crd_yaml,
    spec_schema,
};
pub use evaluate::{
    AttestationFacts, ConfigFacts, Decision, ImageDecision, ImageFacts, PolicySet, RuleRef, RunAs,
    TopVuln, TrustNeeds, Workload, decide, evaluate_image, scan_matters,
};
pub use load::{
    Loaded, MAX_DOCUMENTS_PER_FILE, MAX_FILE_BYTES, exception_from_value, load_dir, load_dir_all,
    parse_text, policy_from_value, policy_shape_from_value,
};
pub use policy::{Policy, PolicyError, SECRET_KEY_ENTRY, SECRET_KEY_PREFIX};
pub use selector::{Selector, SelectorError};

/// Results of this crate's fallible operations.
pub type Result<T, E = PolicyError> = std::result::Result<T, E>;
