//! Version ordering per ecosystem, each by that ecosystem's own rules
