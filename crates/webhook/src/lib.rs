//! Admission webhook: router(), TLS serve(), decisions from policies and scan results
