//! ContainerAdmissionPolicy types, the selector language and evaluation (no IO)
