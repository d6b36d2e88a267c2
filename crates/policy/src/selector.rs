//! Calico's label selector language, parsed once and matched many times.
//!
//! Policies written for Calico's `ContainerAdmissionPolicy` must mean the same thing here, so
//! the grammar and the truth table follow Calico's selector reference:
//!
//! | expression | matches |
//! |---|---|
//! | `all()` | everything in scope (`!all()` matches nothing) |
//! | `global()` | only objects that are not namespaced (see [`Selector::matches_scoped`]) |
//! | `k == 'v'` | label `k` present with value `v` |
//! | `k != 'v'` | label `k` absent, or present with another value |
//! | `has(k)` | label `k` present, whatever its value |
//! | `k in {'a', 'b'}` | label `k` present with one of the values |
//! | `k not in {'a', 'b'}` | label `k` absent, or present with none of the values |
//! | `k contains 's'` | label `k` present and its value contains `s` |
//! | `k starts with 's'`, `k startswith 's'` | label `k` present and its value starts with `s` |
//! | `k ends with 's'`, `k endswith 's'` | label `k` present and its value ends with `s` |
//!
//! Expressions combine with `!`, `&&`, `||` and parentheses; `!` binds tightest, then `&&`,
//! then `||`, so `a == 'x' || b == 'y' && c == 'z'` is `a == 'x' || (b == 'y' && c == 'z')`.
//! Strings are quoted with `'` or `"` and have no escapes (as in Calico). Label keys are made
//! of ASCII letters, digits and `_ . / -`. An empty selector is `all()`, as in Calico.
//!
//! One deliberate leniency: any ASCII whitespace (Calico: only space and tab) separates
//! tokens, so a selector written as a YAML block scalar with line breaks still parses.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A selector that did not parse: the selector text, the 1-based character column where
/// parsing stopped, and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("selector {selector:?} at column {column}: {expected}")]
pub struct SelectorError {
    /// The selector as written.
    pub selector: String,
    /// 1-based character column of the offending token (one past the end for a selector
    /// that ends too early).
    pub column: usize,
    /// What the parser expected there, in words.
    pub expected: String,
}

/// A parsed selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    source: String,
    root: Node,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    All,
    Global,
    Has(String),
    Eq(String, String),
    Ne(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Contains(String, String),
    StartsWith(String, String),
    EndsWith(String, String),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
}

impl Selector {
    /// Parses a selector written in Calico's selector language.
    pub fn parse(source: &str) -> Result<Selector, SelectorError> {
        let mut p = Parser {
            src: source,
            pos: 0,
        };
        p.skip_ws();
        let root = if p.at_end() {
            Node::All
        } else {
            let node = p.parse_or()?;
            p.skip_ws();
            if !p.at_end() {
                return Err(p.error("expected '&&', '||' or the end of the selector"));
            }
            node
        };
        Ok(Selector {
            source: source.to_string(),
            root,
        })
    }

    /// The selector `all()`, the default of both policy selectors.
    pub fn all() -> Selector {
        Selector {
            source: "all()".to_string(),
            root: Node::All,
        }
    }

    /// The selector as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the labels of a namespaced object match: `global()` is false here, since
    /// every pod-creating workload lives in a namespace.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_scoped(labels, false)
    }

    /// Whether the labels match, saying whether the object is cluster-scoped (has no
    /// namespace). `global()` is true exactly for cluster-scoped objects, which is how Calico
    /// uses it ("match all non-namespaced resources"); `all()` is true for both.
    pub fn matches_scoped(&self, labels: &BTreeMap<String, String>, cluster_scoped: bool) -> bool {
        eval(&self.root, labels, cluster_scoped)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

/// A label a selector may look for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// The key is present, whatever its value.
    Key(String),
    /// The key is present with this value.
    Value(String, String),
}

/// What labels must hold for a selector to match: what lets a policy set look up the policies
/// that can select a workload by its labels instead of evaluating every selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Labels holding none of the selector's keys can match (`all()`, `!=`, `not in`, `!`), so
    /// no lookup can rule it out.
    Nothing,
    /// Only labels holding at least one of these match (none: the selector matches nothing).
    OneOf(Vec<Need>),
}

impl Selector {
    /// A necessary condition on the labels for [`Selector::matches_scoped`] to be true, whether
    /// or not the object is cluster-scoped. Sound, not exact: labels meeting it may still not
    /// match, so a caller evaluates the selector on what the condition lets through.
    pub(crate) fn needs(&self) -> Needs {
        needs(&self.root)
    }
}

fn needs(node: &Node) -> Needs {
    let values = |k: &String, vs: &BTreeSet<String>| {
        Needs::OneOf(
            vs.iter()
                .map(|v| Need::Value(k.clone(), v.clone()))
                .collect(),
        )
    };
    match node {
        Node::Has(k) | Node::Contains(k, _) | Node::StartsWith(k, _) | Node::EndsWith(k, _) => {
            Needs::OneOf(vec![Need::Key(k.clone())])
        }
        Node::Eq(k, v) => Needs::OneOf(vec![Need::Value(k.clone(), v.clone())]),
        Node::In(k, vs) => values(k, vs),
        Node::Not(inner) => match inner.as_ref() {
            Node::Ne(k, v) => Needs::OneOf(vec![Need::Value(k.clone(), v.clone())]),
            Node::NotIn(k, vs) => values(k, vs),
            Node::Not(n) => needs(n),
            _ => Needs::Nothing,
        },
        // Every term must hold, so any one term's condition will do: the narrowest, a list of
        // values before one naming a bare key (which lets through every value of it).
        Node::And(terms) => terms
            .iter()
            .filter_map(|t| match needs(t) {
                Needs::OneOf(n) => Some(n),
                Needs::Nothing => None,
            })
            .min_by_key(|n| {
                let keys = n.iter().filter(|x| matches!(x, Need::Key(_))).count();
                (keys, n.len())
            })
            .map_or(Needs::Nothing, Needs::OneOf),
        // Some term must hold: the union of their conditions, if each has one.
        Node::Or(terms) => {
            let mut all = Vec::new();
            for t in terms {
                match needs(t) {
                    Needs::OneOf(n) => all.extend(n),
                    Needs::Nothing => return Needs::Nothing,
                }
            }
            Needs::OneOf(all)
        }
        Node::All | Node::Global | Node::Ne(..) | Node::NotIn(..) => Needs::Nothing,
    }
}

fn eval(node: &Node, labels: &BTreeMap<String, String>, global: bool) -> bool {
    let get = |k: &String| labels.get(k).map(String::as_str);
    match node {
        Node::All => true,
        Node::Global => global,
        Node::Has(k) => labels.contains_key(k),
        Node::Eq(k, v) => get(k) == Some(v.as_str()),
        Node::Ne(k, v) => get(k) != Some(v.as_str()),
        Node::In(k, set) => get(k).is_some_and(|v| set.contains(v)),
        Node::NotIn(k, set) => get(k).is_none_or(|v| !set.contains(v)),
        Node::Contains(k, s) => get(k).is_some_and(|v| v.contains(s.as_str())),
        Node::StartsWith(k, s) => get(k).is_some_and(|v| v.starts_with(s.as_str())),
        Node::EndsWith(k, s) => get(k).is_some_and(|v| v.ends_with(s.as_str())),
        Node::Not(n) => !eval(n, labels, global),
        Node::And(ns) => ns.iter().all(|n| eval(n, labels, global)),
        Node::Or(ns) => ns.iter().any(|n| eval(n, labels, global)),
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

/// A recursive-descent parser over the selector text; `pos` is a byte offset.
struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        self.pos += rest.len() - trimmed.len();
    }

    fn error_at(&self, pos: usize, expected: &str) -> SelectorError {
        SelectorError {
            selector: self.src.to_string(),
            column: self.src[..pos].chars().count() + 1,
            expected: expected.to_string(),
        }
    }

    fn error(&self, expected: &str) -> SelectorError {
        self.error_at(self.pos, expected)
    }

    /// Consumes `s` if the remaining input starts with it.
    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Consumes the word `w` if it is not merely the start of a longer label key.
    fn eat_word(&mut self, w: &str) -> bool {
        let rest = self.rest();
        if rest.starts_with(w) && !rest[w.len()..].starts_with(is_key_char) {
            self.pos += w.len();
            true
        } else {
            false
        }
    }

    fn parse_or(&mut self) -> Result<Node, SelectorError> {
        let mut terms = vec![self.parse_and()?];
        loop {
            self.skip_ws();
            if self.eat("||") {
                terms.push(self.parse_and()?);
            } else if self.rest().starts_with('|') {
                return Err(self.error("expected '||'"));
            } else {
                break;
            }
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Node::Or(terms)
        })
    }

    fn parse_and(&mut self) -> Result<Node, SelectorError> {
        let mut terms = vec![self.parse_unary()?];
        loop {
            self.skip_ws();
            if self.eat("&&") {
                terms.push(self.parse_unary()?);
            } else if self.rest().starts_with('&') {
                return Err(self.error("expected '&&'"));
            } else {
                break;
            }
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Node::And(terms)
        })
    }

    fn parse_unary(&mut self) -> Result<Node, SelectorError> {
        self.skip_ws();
        if self.rest().starts_with('!') && !self.rest().starts_with("!=") {
            self.pos += 1;
            let inner = self.parse_unary()?;
            return Ok(Node::Not(Box::new(inner)));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Node, SelectorError> {
        self.skip_ws();
        if self.at_end() {
            return Err(self.error("expected a selector expression"));
        }
        if self.eat("(") {
            let inner = self.parse_or()?;
            self.skip_ws();
            if !self.eat(")") {
                return Err(self.error("expected ')'"));
            }
            return Ok(inner);
        }
        // As in Calico, `all(`, `global(` and `has(` are functions only when the parenthesis
        // follows at once; otherwise `all` is an ordinary label key.
        if self.eat("all(") {
            self.close_call("all(")?;
            return Ok(Node::All);
        }
        if self.eat("global(") {
            self.close_call("global(")?;
            return Ok(Node::Global);
        }
        if self.eat("has(") {
            self.skip_ws();
            let key = self
                .parse_key()
                .ok_or_else(|| self.error("expected a label name in has(...)"))?;
            self.close_call("has(k")?;
            return Ok(Node::Has(key));
        }
        let key = self.parse_key().ok_or_else(|| {
            self.error("expected a label name, '(', '!', all(), global() or has()")
        })?;
        self.parse_operation(key)
    }

    fn close_call(&mut self, what: &str) -> Result<(), SelectorError> {
        self.skip_ws();
        if self.eat(")") {
            Ok(())
        } else {
            Err(self.error(&format!("expected ')' to close {what}")))
        }
    }

    fn parse_key(&mut self) -> Option<String> {
        let rest = self.rest();
        let len = rest.find(|c: char| !is_key_char(c)).unwrap_or(rest.len());
        if len == 0 {
            return None;
        }
        let key = rest[..len].to_string();
        self.pos += len;
        Some(key)
    }

    fn parse_operation(&mut self, key: String) -> Result<Node, SelectorError> {
        self.skip_ws();
        if self.eat("==") {
            return Ok(Node::Eq(key, self.parse_string()?));
        }
        if self.eat("!=") {
            return Ok(Node::Ne(key, self.parse_string()?));
        }
        if self.rest().starts_with('=') {
            return Err(self.error("expected '=='"));
        }
        if self.eat_word("in") {
            return Ok(Node::In(key, self.parse_set()?));
        }
        if self.eat_word("not") {
            self.skip_ws();
            if !self.eat_word("in") {
                return Err(self.error("expected 'in' after 'not'"));
            }
            return Ok(Node::NotIn(key, self.parse_set()?));
        }
        if self.eat_word("contains") {
            return Ok(Node::Contains(key, self.parse_string()?));
        }
        // Calico spells these `starts with`/`ends with` and `startswith`/`endswith` alike.
        if self.eat_word("startswith") {
            return Ok(Node::StartsWith(key, self.parse_string()?));
        }
        if self.eat_word("endswith") {
            return Ok(Node::EndsWith(key, self.parse_string()?));
        }
        if self.eat_word("starts") {
            self.skip_ws();
            if !self.eat_word("with") {
                return Err(self.error("expected 'with' after 'starts'"));
            }
            return Ok(Node::StartsWith(key, self.parse_string()?));
        }
        if self.eat_word("ends") {
            self.skip_ws();
            if !self.eat_word("with") {
                return Err(self.error("expected 'with' after 'ends'"));
            }
            return Ok(Node::EndsWith(key, self.parse_string()?));
        }
        Err(self
            .error("expected an operator (==, !=, in, not in, contains, starts with, ends with)"))
    }

    fn parse_string(&mut self) -> Result<String, SelectorError> {
        self.skip_ws();
        let quote = match self.rest().chars().next() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(self.error("expected a quoted value")),
        };
        let start = self.pos;
        let body = &self.rest()[1..];
        match body.find(quote) {
            Some(end) => {
                let value = body[..end].to_string();
                self.pos += 1 + end + 1;
                Ok(value)
            }
            None => Err(self.error_at(start, "unterminated string")),
        }
    }

    fn parse_set(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        self.skip_ws();
        if !self.eat("{") {
            return Err(self.error("expected '{' to start a set of values"));
        }
        let mut set = BTreeSet::new();
        loop {
            self.skip_ws();
            if self.eat("}") {
                return Ok(set);
            }
            if !matches!(self.rest().chars().next(), Some('\'' | '"')) {
                return Err(self.error("expected a quoted value or '}'"));
            }
            set.insert(self.parse_string()?);
            self.skip_ws();
            // As in Calico, a trailing comma before '}' is accepted.
            if self.eat(",") {
                continue;
            }
            if self.eat("}") {
                return Ok(set);
            }
            return Err(self.error("expected ',' or '}'"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn m(sel: &str, pairs: &[(&str, &str)]) -> bool {
        Selector::parse(sel)
            .unwrap_or_else(|e| panic!("{e}"))
            .matches(&labels(pairs))
    }

    #[test]
    fn each_operator() {
        // (selector, labels, expected)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);
        let cases: &[Case<'_>] = &[
            ("all()", &[], true),
            ("all( )", &[("a", "x")], true),
            ("!all()", &[("a", "x")], false),
            ("", &[], true),
            ("a == 'x'", &[("a", "x")], true),
            ("a == 'x'", &[("a", "y")], false),
            ("a == 'x'", &[], false),
            ("a == \"x\"", &[("a", "x")], true),
            ("a != 'x'", &[("a", "x")], false),
            ("a != 'x'", &[("a", "y")], true),
            ("a != 'x'", &[], true),
            ("has(a)", &[("a", "")], true),
            ("has( a )", &[("b", "x")], false),
            ("!has(a)", &[("b", "x")], true),
            ("!has(a)", &[("a", "x")], false),
            ("a in {'x', 'y'}", &[("a", "y")], true),
            ("a in {'x', 'y'}", &[("a", "z")], false),
            ("a in {'x', 'y'}", &[], false),
            ("a in {}", &[("a", "x")], false),
            ("a in {'x',}", &[("a", "x")], true),
            ("a not in {'x', 'y'}", &[("a", "x")], false),
            ("a not in {'x', 'y'}", &[("a", "z")], true),
            ("a not in {'x', 'y'}", &[], true),
            ("a contains 'ro'", &[("a", "prod")], true),
            ("a contains 'ro'", &[("a", "dev")], false),
            ("a contains ''", &[], false),
            ("a startswith 'pr'", &[("a", "prod")], true),
            ("a startswith 'pr'", &[("a", "dev-prod")], false),
            ("a endswith 'od'", &[("a", "prod")], true),
            ("a endswith 'od'", &[("a", "prod-x")], false),
            ("a starts with 'pr'", &[("a", "prod")], true),
            ("a starts with 'pr'", &[("a", "dev-prod")], false),
            ("a starts with 'pr'", &[], false),
            ("a ends with 'od'", &[("a", "prod")], true),
            ("a ends with 'od'", &[("a", "prod-1")], false),
            ("a ends with 'od'", &[], false),
            (
                "app.kubernetes.io/name == 'web'",
                &[("app.kubernetes.io/name", "web")],
                true,
            ),
            ("my_label-2 == 'v'", &[("my_label-2", "v")], true),
            // `all`, `has`, `in` are ordinary keys when not used as functions/operators.
            ("all == 'x'", &[("all", "x")], true),
            ("has == 'x'", &[("has", "x")], true),
            ("in in {'a'}", &[("in", "a")], true),
            ("a in{'x'}", &[("a", "x")], true),
            ("a=='x'&&b=='y'", &[("a", "x"), ("b", "y")], true),
        ];
        for (sel, l, want) in cases {
            assert_eq!(m(sel, l), *want, "selector {sel:?} on {l:?}");
        }
    }

    #[test]
    fn precedence_and_negation() {
        let sel = "a == 'x' || b == 'y' && c == 'z'";
        // Parsed as a == 'x' || (b == 'y' && c == 'z').
        assert!(m(sel, &[("a", "x")]));
        assert!(!m(sel, &[("b", "y")]));
        assert!(m(sel, &[("b", "y"), ("c", "z")]));
        // With parentheses the grouping changes.
        let grouped = "(a == 'x' || b == 'y') && c == 'z'";
        assert!(!m(grouped, &[("a", "x")]));
        assert!(m(grouped, &[("a", "x"), ("c", "z")]));
        // `!` binds tighter than `&&`: !has(a) && has(b) is (!has(a)) && has(b).
        assert!(m("!has(a) && has(b)", &[("b", "1")]));
        assert!(!m("!has(a) && has(b)", &[("a", "1"), ("b", "1")]));
        assert!(m("!(has(a) && has(b))", &[("a", "1")]));
        assert!(m("!!has(a)", &[("a", "1")]));
        // The example from Calico's reference.
        let doc =
            "! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}";
        assert!(m(doc, &[]));
        assert!(m(doc, &[("my-label", "prod-1"), ("role", "business")]));
        assert!(!m(doc, &[("my-label", "prod-1"), ("role", "db")]));
        assert!(!m(doc, &[("my-label", "dev"), ("role", "frontend")]));
    }

    #[test]
    fn global_only_for_cluster_scoped() {
        let g = Selector::parse("global()").unwrap();
        assert!(!g.matches(&BTreeMap::new()));
        assert!(g.matches_scoped(&BTreeMap::new(), true));
        let a = Selector::parse("all()").unwrap();
        assert!(a.matches_scoped(&BTreeMap::new(), true));
        assert!(a.matches_scoped(&BTreeMap::new(), false));
    }

    #[test]
    fn errors_name_the_column() {
        let cases: &[(&str, usize, &str)] = &[
            ("a == ", 6, "expected a quoted value"),
            ("a = 'x'", 3, "expected '=='"),
            ("a == 'x", 6, "unterminated string"),
            ("a", 2, "expected an operator"),
            ("a foo 'x'", 3, "expected an operator"),
            ("a == 'x' &", 10, "expected '&&'"),
            ("a == 'x' |", 10, "expected '||'"),
            ("a == 'x' &&", 12, "expected a selector expression"),
            ("(a == 'x'", 10, "expected ')'"),
            ("has(a", 6, "expected ')'"),
            ("has()", 5, "expected a label name in has"),
            ("all(x)", 5, "expected ')'"),
            ("a in 'x'", 6, "expected '{'"),
            ("a in {'x' 'y'}", 11, "expected ',' or '}'"),
            ("a in {,}", 7, "expected a quoted value or '}'"),
            ("a not 'x'", 7, "expected 'in' after 'not'"),
            ("a starts 'x'", 10, "expected 'with'"),
            ("a == 'x' b == 'y'", 10, "expected '&&', '||' or the end"),
            ("&& a == 'x'", 1, "expected a label name"),
            ("é == 'x'", 1, "expected a label name"),
            ("a == 'é' && ", 13, "expected a selector expression"),
        ];
        for (sel, col, expected) in cases {
            let err = Selector::parse(sel).expect_err(sel);
            assert_eq!(err.column, *col, "{sel:?}: {err}");
            assert!(err.expected.starts_with(expected), "{sel:?}: {err}");
        }
    }

    #[test]
    fn error_message_format() {
        let err = Selector::parse("a == ").unwrap_err();
        assert_eq!(
            err.to_string(),
            "selector \"a == \" at column 6: expected a quoted value"
        );
    }

    #[test]
    fn whitespace_and_quotes() {
        assert!(m("  a\t==\n'x'  ", &[("a", "x")]));
        assert!(m("a == \"it's\"", &[("a", "it's")]));
        assert!(m("a == 'say \"hi\"'", &[("a", "say \"hi\"")]));
        assert_eq!(
            Selector::parse(" a == 'x' ").unwrap().to_string(),
            " a == 'x' "
        );
    }

    /// Selectors over two keys and two values, nested three deep.
    fn node() -> impl proptest::strategy::Strategy<Value = Node> {
        use proptest::prelude::*;
        let key = || prop_oneof![Just("a".to_string()), Just("b".to_string())];
        let value = || prop_oneof![Just("x".to_string()), Just("y".to_string())];
        let set = || proptest::collection::btree_set(value(), 0..3);
        let leaf = prop_oneof![
            Just(Node::All),
            Just(Node::Global),
            key().prop_map(Node::Has),
            (key(), value()).prop_map(|(k, v)| Node::Eq(k, v)),
            (key(), value()).prop_map(|(k, v)| Node::Ne(k, v)),
            (key(), set()).prop_map(|(k, s)| Node::In(k, s)),
            (key(), set()).prop_map(|(k, s)| Node::NotIn(k, s)),
            (key(), value()).prop_map(|(k, v)| Node::StartsWith(k, v)),
        ];
        leaf.prop_recursive(3, 24, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|n| Node::Not(Box::new(n))),
                proptest::collection::vec(inner.clone(), 1..4).prop_map(Node::And),
                proptest::collection::vec(inner, 1..4).prop_map(Node::Or),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// The policy index may skip a selector only when the labels lack everything it needs,
        /// so whenever a selector matches, the labels meet its needs.
        #[test]
        fn labels_that_match_meet_the_needs(
            root in node(),
            labels in proptest::collection::btree_map(
                proptest::prelude::prop_oneof![
                    proptest::prelude::Just("a".to_string()),
                    proptest::prelude::Just("b".to_string()),
                    proptest::prelude::Just("c".to_string()),
                ],
                proptest::prelude::prop_oneof![
                    proptest::prelude::Just("x".to_string()),
                    proptest::prelude::Just("y".to_string()),
                ],
                0..3,
            ),
            global in proptest::prelude::any::<bool>(),
        ) {
            if eval(&root, &labels, global)
                && let Needs::OneOf(needs) = needs(&root)
            {
                let met = needs.iter().any(|n| match n {
                    Need::Key(k) => labels.contains_key(k),
                    Need::Value(k, v) => labels.get(k) == Some(v),
                });
                proptest::prop_assert!(met, "{root:?} matches {labels:?} but needs {needs:?}");
            }
        }
    }

    #[test]
    fn needs_of_common_selectors() {
        let n = |s: &str| Selector::parse(s).unwrap().needs();
        let v = |k: &str, v: &str| Need::Value(k.into(), v.into());
        assert_eq!(n("all()"), Needs::Nothing);
        assert_eq!(n("app != 'x'"), Needs::Nothing);
        assert_eq!(n("app == 'x'"), Needs::OneOf(vec![v("app", "x")]));
        assert_eq!(n("has(app)"), Needs::OneOf(vec![Need::Key("app".into())]));
        // The narrowest term of a conjunction: values before a bare key.
        assert_eq!(
            n("has(team) && app in {'x', 'y'} && tier != 'db'"),
            Needs::OneOf(vec![v("app", "x"), v("app", "y")])
        );
        assert_eq!(
            n("app == 'x' || team == 't'"),
            Needs::OneOf(vec![v("app", "x"), v("team", "t")])
        );
        assert_eq!(n("app == 'x' || !has(team)"), Needs::Nothing);
        assert_eq!(n("!(app != 'x')"), Needs::OneOf(vec![v("app", "x")]));
    }
}
