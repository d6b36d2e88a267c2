//! Alert rules over the images the service knows, in the spirit of Calico's GlobalAlert with
//! `dataSet: vulnerability`: a `query` selects records (an image, or an image in a running
//! workload), a `metric` (`count`, or `max`/`min`/`avg`/`sum` of a numeric field) is computed per
//! `aggregateBy` group, and the rule fires for each group whose value meets `condition`
//! `threshold`.
//!
//! The query language: comparisons `field = value`, `!=`, `<`, `>`, `<=`, `>=`, `field IN {a, b}`,
//! combined with `AND`, `OR`, `NOT` and parentheses; values are numbers, bare words or
//! double-quoted strings. Fields: `registry`, `repository`, `namespace`, `workload`, `result`,
//! `max_cvss_score`, `cve`, `fixable`, `running`. `cve = X` holds when the image has X (by id
//! or alias) counted. A query that does not parse is refused when the rule is made, naming the
//! position.
//!
//! This module is pure: records in, fired groups out. Scheduling, deduplication and delivery
//! live with the service.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a rule is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The query does not parse.
    #[error("query, at character {at}: {why}")]
    Query {
        /// 0-based character position.
        at: usize,
        /// What was expected.
        why: String,
    },
    /// A field no record has.
    #[error(
        "unknown field `{0}` (known: registry, repository, namespace, workload, result, max_cvss_score, cve, fixable, running)"
    )]
    Field(String),
    /// `max`/`min`/`avg`/`sum` need a numeric field.
    #[error("metric `{metric}` needs a numeric field (max_cvss_score), not `{field}`")]
    Metric {
        /// The metric.
        metric: String,
        /// The field given.
        field: String,
    },
    /// `period` or `lookback` is not a duration.
    #[error("{field}: {why}")]
    Duration {
        /// `period` or `lookback`.
        field: &'static str,
        /// What is wrong.
        why: String,
    },
}

const FIELDS: [&str; 9] = [
    "registry",
    "repository",
    "namespace",
    "workload",
    "result",
    "max_cvss_score",
    "cve",
    "fixable",
    "running",
];

/// One thing a rule looks at: an image, or an image in one running workload.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Record {
    /// Registry host.
    pub registry: String,
    /// Repository path.
    pub repository: String,
    /// Namespace of the workload running it (empty when not running).
    pub namespace: String,
    /// `Kind/name` of the workload running it (empty when not running).
    pub workload: String,
    /// Pass, Warn or Fail.
    pub result: String,
    /// Highest CVSS counted (0 when none).
    pub max_cvss_score: f64,
    /// Vulnerability ids and aliases counted, upper case.
    pub cves: Vec<String>,
    /// Whether a counted vulnerability has a fix.
    pub fixable: bool,
    /// Whether it runs now.
    pub running: bool,
    /// When the image was last seen (admission, runtime, a scan or a push); read by a rule's
    /// `lookback`, not by queries.
    pub last_seen: Option<time::OffsetDateTime>,
}

impl Record {
    fn text(&self, field: &str) -> Option<String> {
        Some(match field {
            "registry" => self.registry.clone(),
            "repository" => self.repository.clone(),
            "namespace" => self.namespace.clone(),
            "workload" => self.workload.clone(),
            "result" => self.result.clone(),
            "max_cvss_score" => format!("{}", self.max_cvss_score),
            "fixable" => self.fixable.to_string(),
            "running" => self.running.to_string(),
            _ => return None,
        })
    }
}

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// Everything.
    All,
    /// `field op value`.
    Cmp(String, Op, String),
    /// `field IN {values}`.
    In(String, Vec<String>),
    /// Both.
    And(Box<Query>, Box<Query>),
    /// Either.
    Or(Box<Query>, Box<Query>),
    /// Not.
    Not(Box<Query>),
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(Op),
    Open,
    Close,
    BraceOpen,
    BraceClose,
    Comma,
}

fn tokens(text: &str) -> Result<Vec<(usize, Token)>, RuleError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | '{' | '}' | ',' => {
                out.push((
                    at,
                    match c {
                        '(' => Token::Open,
                        ')' => Token::Close,
                        '{' => Token::BraceOpen,
                        '}' => Token::BraceClose,
                        _ => Token::Comma,
                    },
                ));
                i += 1;
            }
            '=' => {
                out.push((at, Token::Op(Op::Eq)));
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
            }
            '!' | '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                let op = match (c, eq) {
                    ('!', true) => Op::Ne,
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    ('>', true) => Op::Ge,
                    _ => {
                        return Err(RuleError::Query {
                            at,
                            why: "`!` must be followed by `=`".into(),
                        });
                    }
                };
                out.push((at, Token::Op(op)));
                i += if eq { 2 } else { 1 };
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(RuleError::Query {
                                at,
                                why: "unterminated string".into(),
                            });
                        }
                        Some('"') => break,
                        Some('\\') if chars.get(i + 1).is_some() => {
                            s.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push((at, Token::Quoted(s)));
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !"(){},=!<>\"".contains(chars[i])
                {
                    i += 1;
                }
                out.push((at, Token::Word(chars[start..i].iter().collect())));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Token)>,
    pos: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.len, |(a, _)| *a)
    }

    fn err<T>(&self, why: &str) -> Result<T, RuleError> {
        Err(RuleError::Query {
            at: self.at(),
            why: why.to_string(),
        })
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn or(&mut self) -> Result<Query, RuleError> {
        let mut q = self.and()?;
        while self.keyword("OR") {
            self.pos += 1;
            q = Query::Or(Box::new(q), Box::new(self.and()?));
        }
        Ok(q)
    }

    fn and(&mut self) -> Result<Query, RuleError> {
        let mut q = self.unary()?;
        while self.keyword("AND") {
            self.pos += 1;
            q = Query::And(Box::new(q), Box::new(self.unary()?));
        }
        Ok(q)
    }

    fn unary(&mut self) -> Result<Query, RuleError> {
        if self.keyword("NOT") {
            self.pos += 1;
            return Ok(Query::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let q = self.or()?;
            if self.peek() != Some(&Token::Close) {
                return self.err("expected `)`");
            }
            self.pos += 1;
            return Ok(q);
        }
        self.comparison()
    }

    fn value(&mut self) -> Result<String, RuleError> {
        match self.peek().cloned() {
            Some(Token::Word(w) | Token::Quoted(w)) => {
                self.pos += 1;
                Ok(w)
            }
            _ => self.err("expected a value"),
        }
    }

    fn comparison(&mut self) -> Result<Query, RuleError> {
        let Some(Token::Word(field)) = self.peek().cloned() else {
            return self.err("expected a field");
        };
        if !FIELDS.contains(&field.as_str()) {
            return Err(RuleError::Field(field));
        }
        self.pos += 1;
        if self.keyword("IN") {
            self.pos += 1;
            if self.peek() != Some(&Token::BraceOpen) {
                return self.err("expected `{` after IN");
            }
            self.pos += 1;
            let mut values = vec![self.value()?];
            while self.peek() == Some(&Token::Comma) {
                self.pos += 1;
                values.push(self.value()?);
            }
            if self.peek() != Some(&Token::BraceClose) {
                return self.err("expected `}`");
            }
            self.pos += 1;
            return Ok(Query::In(field, values));
        }
        let Some(Token::Op(op)) = self.peek().cloned() else {
            return self.err("expected `=`, `!=`, `<`, `>`, `<=`, `>=` or IN");
        };
        self.pos += 1;
        Ok(Query::Cmp(field, op, self.value()?))
    }
}

impl Query {
    /// Parses a query; empty is everything.
    pub fn parse(text: &str) -> Result<Query, RuleError> {
        let toks = tokens(text)?;
        if toks.is_empty() {
            return Ok(Query::All);
        }
        let mut p = Parser {
            toks,
            pos: 0,
            len: text.chars().count(),
        };
        let q = p.or()?;
        if p.pos < p.toks.len() {
            return p.err("expected AND, OR or the end");
        }
        Ok(q)
    }

    /// Whether `r` is selected.
    pub fn matches(&self, r: &Record) -> bool {
        match self {
            Query::All => true,
            Query::And(a, b) => a.matches(r) && b.matches(r),
            Query::Or(a, b) => a.matches(r) || b.matches(r),
            Query::Not(q) => !q.matches(r),
            Query::In(field, values) => values.iter().any(|v| compare(r, field, Op::Eq, v)),
            Query::Cmp(field, op, value) => compare(r, field, *op, value),
        }
    }
}

fn compare(r: &Record, field: &str, op: Op, value: &str) -> bool {
    if field == "cve" {
        let has = r.cves.iter().any(|c| c.eq_ignore_ascii_case(value));
        return match op {
            Op::Eq => has,
            Op::Ne => !has,
            _ => false,
        };
    }
    let Some(have) = r.text(field) else {
        return false;
    };
    if let (Ok(a), Ok(b)) = (have.parse::<f64>(), value.parse::<f64>()) {
        return match op {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Gt => a > b,
            Op::Le => a <= b,
            Op::Ge => a >= b,
        };
    }
    let ord = have.to_ascii_lowercase().cmp(&value.to_ascii_lowercase());
    match op {
        Op::Eq => ord.is_eq(),
        Op::Ne => ord.is_ne(),
        Op::Lt => ord.is_lt(),
        Op::Gt => ord.is_gt(),
        Op::Le => ord.is_le(),
        Op::Ge => ord.is_ge(),
    }
}

/// What a rule computes per group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// How many records.
    #[default]
    Count,
    /// The highest value of the field.
    Max,
    /// The lowest.
    Min,
    /// The mean.
    Avg,
    /// The sum.
    Sum,
}

/// How the value is compared with the threshold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Equal.
    Eq,
    /// Not equal.
    NotEq,
    /// Less.
    Lt,
    /// Less or equal.
    Lte,
    /// Greater.
    #[default]
    Gt,
    /// Greater or equal.
    Gte,
}

/// An alert rule: made through the API, or an `ImageAssuranceAlert` resource whose spec is
/// these fields but the name (the object's name).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rule {
    /// Name, unique among rules.
    pub name: String,
    /// What it says when it fires.
    #[serde(default)]
    pub description: String,
    /// `low`, `medium`, `high` or `critical` (free text, carried to the notification).
    #[serde(default = "medium")]
    pub severity: String,
    /// The query (empty: everything).
    #[serde(default)]
    pub query: String,
    /// What is computed.
    #[serde(default)]
    pub metric: Metric,
    /// The numeric field `max`, `min`, `avg` and `sum` read.
    #[serde(default)]
    pub field: Option<String>,
    /// How the value meets the threshold.
    #[serde(default)]
    pub condition: Condition,
    /// The threshold.
    #[serde(default)]
    pub threshold: f64,
    /// Fields the records are grouped by; each group fires apart.
    #[serde(default)]
    pub aggregate_by: Vec<String>,
    /// How often it is evaluated (`10m`; default: every `serve --alert-interval`).
    #[serde(default)]
    pub period: Option<String>,
    /// Only images seen within this long (`24h`; default: every image ever seen).
    #[serde(default)]
    pub lookback: Option<String>,
}

fn duration(
    field: &'static str,
    text: Option<&str>,
) -> Result<Option<std::time::Duration>, RuleError> {
    text.map(|t| {
        portcullis_core::parse_duration(t).map_err(|why| RuleError::Duration { field, why })
    })
    .transpose()
}

fn medium() -> String {
    "medium".into()
}

/// The kind of the alert-rule resource (in the spirit of Calico's `GlobalAlert` with
/// `dataSet: vulnerability`).
pub const ALERT_KIND: &str = "ImageAssuranceAlert";

impl Rule {
    /// The rule of an `ImageAssuranceAlert` named `name` with `spec`, checked as the API checks
    /// the rules it is given.
    pub fn from_resource(name: &str, spec: &serde_json::Value) -> Result<Rule, String> {
        let mut spec = spec.clone();
        let Some(fields) = spec.as_object_mut() else {
            return Err("spec is not an object".into());
        };
        if fields.contains_key("name") {
            return Err("spec.name: the rule's name is the object's".into());
        }
        fields.insert("name".into(), name.into());
        let rule: Rule = serde_json::from_value(spec).map_err(|e| format!("spec: {e}"))?;
        rule.check().map_err(|e| format!("spec: {e}"))?;
        Ok(rule)
    }
}

/// The CustomResourceDefinition of `ImageAssuranceAlert`, as YAML: its spec's schema is
/// [`Rule`]'s without the name, so the resource and the API take the same rules.
pub fn alert_crd_yaml() -> String {
    let mut spec = portcullis_policy::spec_schema::<Rule>();
    if let Some(props) = spec["properties"].as_object_mut() {
        props.remove("name");
    }
    if let Some(required) = spec["required"].as_array_mut() {
        required.retain(|r| r != "name");
        if required.is_empty() {
            spec.as_object_mut().map(|o| o.remove("required"));
        }
    }
    portcullis_policy::custom_resource_definition(
        "imageassurancealerts",
        ALERT_KIND,
        "imageassurancealert",
        &["iaa"],
        spec,
        serde_json::json!([
            {"name": "Severity", "type": "string", "jsonPath": ".spec.severity"},
            {"name": "Query", "type": "string", "jsonPath": ".spec.query"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ]),
    )
}

/// One group a rule fired for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fired {
    /// The rule.
    pub rule: String,
    /// The group's `aggregateBy` values.
    pub group: BTreeMap<String, String>,
    /// The metric's value.
    pub value: f64,
    /// Records in the group.
    pub records: usize,
}

impl Rule {
    /// Checks the rule: its query parses, its fields exist, its metric has a numeric field.
    pub fn check(&self) -> Result<Query, RuleError> {
        let q = Query::parse(&self.query)?;
        for f in &self.aggregate_by {
            if !FIELDS.contains(&f.as_str()) || f == "cve" {
                return Err(RuleError::Field(f.clone()));
            }
        }
        self.period()?;
        self.lookback()?;
        if self.metric != Metric::Count {
            let field = self.field.clone().unwrap_or_default();
            if field != "max_cvss_score" {
                return Err(RuleError::Metric {
                    metric: format!("{:?}", self.metric).to_ascii_lowercase(),
                    field,
                });
            }
        }
        Ok(q)
    }

    /// How often it is evaluated, when it says.
    pub fn period(&self) -> Result<Option<std::time::Duration>, RuleError> {
        duration("period", self.period.as_deref())
    }

    /// How recently an image must have been seen to count, when it says.
    pub fn lookback(&self) -> Result<Option<std::time::Duration>, RuleError> {
        duration("lookback", self.lookback.as_deref())
    }

    /// The groups it fires for over `records` now.
    pub fn evaluate(&self, records: &[Record]) -> Result<Vec<Fired>, RuleError> {
        self.evaluate_at(records, time::OffsetDateTime::now_utc())
    }

    /// The groups it fires for over `records` at `now` (the lookback counts back from it).
    pub fn evaluate_at(
        &self,
        records: &[Record],
        now: time::OffsetDateTime,
    ) -> Result<Vec<Fired>, RuleError> {
        let q = self.check()?;
        let since = self.lookback()?.map(|l| now - l);
        let recent =
            |r: &&Record| since.is_none_or(|since| r.last_seen.is_some_and(|seen| seen >= since));
        let mut groups: BTreeMap<Vec<String>, Vec<&Record>> = BTreeMap::new();
        for r in records.iter().filter(recent).filter(|r| q.matches(r)) {
            let key = self
                .aggregate_by
                .iter()
                .map(|f| r.text(f).unwrap_or_default())
                .collect();
            groups.entry(key).or_default().push(r);
        }
        if groups.is_empty() && self.aggregate_by.is_empty() {
            groups.insert(Vec::new(), Vec::new());
        }
        let mut fired = Vec::new();
        for (key, members) in groups {
            let values: Vec<f64> = members.iter().map(|r| r.max_cvss_score).collect();
            let value = match self.metric {
                Metric::Count => members.len() as f64,
                Metric::Max => values.iter().copied().fold(f64::NAN, f64::max),
                Metric::Min => values.iter().copied().fold(f64::NAN, f64::min),
                Metric::Sum => values.iter().sum(),
                Metric::Avg if values.is_empty() => f64::NAN,
                Metric::Avg => values.iter().sum::<f64>() / values.len() as f64,
            };
            let t = self.threshold;
            let meets = !value.is_nan()
                && match self.condition {
                    Condition::Eq => value == t,
                    Condition::NotEq => value != t,
                    Condition::Lt => value < t,
                    Condition::Lte => value <= t,
                    Condition::Gt => value > t,
                    Condition::Gte => value >= t,
                };
            if meets {
                fired.push(Fired {
                    rule: self.name.clone(),
                    group: self.aggregate_by.iter().cloned().zip(key).collect(),
                    value,
                    records: members.len(),
                });
            }
        }
        Ok(fired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(repo: &str, ns: &str, result: &str, cvss: f64, cves: &[&str], running: bool) -> Record {
        Record {
            registry: "reg.local".into(),
            repository: repo.into(),
            namespace: ns.into(),
            workload: if running {
                format!("Deployment/{repo}")
            } else {
                String::new()
            },
            result: result.into(),
            max_cvss_score: cvss,
            cves: cves.iter().map(|c| c.to_string()).collect(),
            fixable: cvss > 5.0,
            running,
            // What is not running was last seen a month before NOW.
            last_seen: Some(if running {
                NOW
            } else {
                NOW - time::Duration::days(30)
            }),
        }
    }

    const NOW: time::OffsetDateTime = time::macros::datetime!(2026-06-01 12:00 UTC);

    #[test]
    fn resources_are_rules_named_by_their_object() {
        let spec = serde_json::json!({"query": "result = Fail", "severity": "high",
            "aggregateBy": ["namespace"], "lookback": "1d"});
        let r = Rule::from_resource("prod-failing", &spec).expect("rule");
        assert_eq!(r.name, "prod-failing");
        assert_eq!(r.aggregate_by, ["namespace"]);
        for (bad, says) in [
            (serde_json::json!({"name": "other"}), "spec.name"),
            (serde_json::json!({"query": "result ~ Fail"}), "character 7"),
            (
                serde_json::json!({"colour": "red"}),
                "unknown field `colour`",
            ),
            (serde_json::json!({"period": "soon"}), "period"),
            (serde_json::json!("a string"), "not an object"),
        ] {
            let e = Rule::from_resource("r", &bad).expect_err(says);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_alert_crd_takes_what_the_api_takes_but_the_name() {
        let crd: serde_json::Value = serde_saphyr::from_str(&alert_crd_yaml()).expect("yaml");
        assert_eq!(crd["spec"]["names"]["kind"], ALERT_KIND);
        let version = &crd["spec"]["versions"][0];
        let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let fields: Vec<&str> = spec["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        assert!(!fields.contains(&"name"), "{fields:?}");
        for f in [
            "query",
            "metric",
            "field",
            "condition",
            "threshold",
            "aggregateBy",
            "period",
            "lookback",
            "severity",
        ] {
            assert!(fields.contains(&f), "{f} not in {fields:?}");
        }
        assert!(spec.get("required").is_none(), "{spec}");
    }

    #[test]
    fn lookback_counts_only_images_seen_recently() {
        let mut r = rule("");
        r.lookback = Some("7d".into());
        let fired = r.evaluate_at(&records(), NOW).expect("evaluate");
        assert_eq!(
            fired[0].records, 3,
            "the image seen a month ago is left out"
        );
        r.lookback = Some("60d".into());
        assert_eq!(
            r.evaluate_at(&records(), NOW).expect("evaluate")[0].records,
            4
        );
        r.lookback = None;
        assert_eq!(
            r.evaluate_at(&records(), NOW).expect("evaluate")[0].records,
            4
        );
        // Both durations are checked when the rule is made.
        r.lookback = Some("a week".into());
        assert!(
            matches!(
                r.check(),
                Err(RuleError::Duration {
                    field: "lookback",
                    ..
                })
            ),
            "{:?}",
            r.check()
        );
        r.lookback = None;
        r.period = Some("0s".into());
        assert!(matches!(
            r.check(),
            Err(RuleError::Duration {
                field: "period",
                ..
            })
        ));
        r.period = Some("15m".into());
        assert_eq!(
            r.period().expect("period"),
            Some(std::time::Duration::from_secs(900))
        );
    }

    fn records() -> Vec<Record> {
        vec![
            rec("web", "prod", "Fail", 9.8, &["CVE-2021-44228"], true),
            rec("api", "prod", "Warn", 5.3, &["CVE-2020-1"], true),
            rec(
                "job",
                "dev",
                "Fail",
                7.5,
                &["CVE-2021-44228", "CVE-2022-2"],
                true,
            ),
            rec("old", "", "Pass", 0.0, &[], false),
        ]
    }

    fn rule(query: &str) -> Rule {
        serde_json::from_value(serde_json::json!({"name": "r", "query": query})).expect("rule")
    }

    #[test]
    fn queries_select_with_and_or_not_in_and_comparisons() {
        let names = |q: &str| -> Vec<String> {
            let q = Query::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
            records()
                .into_iter()
                .filter(|r| q.matches(r))
                .map(|r| r.repository)
                .collect()
        };
        assert_eq!(names(""), ["web", "api", "job", "old"]);
        assert_eq!(names("result = Fail"), ["web", "job"]);
        assert_eq!(names(r#"result = "fail" AND namespace = prod"#), ["web"]);
        assert_eq!(names("max_cvss_score >= 7.5"), ["web", "job"]);
        assert_eq!(
            names("max_cvss_score < 7.5 AND NOT running = false"),
            ["api"]
        );
        assert_eq!(
            names("namespace IN {dev, prod} AND cve = cve-2021-44228"),
            ["web", "job"]
        );
        assert_eq!(
            names("(result = Pass OR result = Warn) AND running = true"),
            ["api"]
        );
        assert_eq!(names("cve != CVE-2021-44228 AND fixable = true"), ["api"]);
        assert_eq!(
            names("NOT (repository = web OR repository = job)"),
            ["api", "old"]
        );
    }

    #[test]
    fn bad_queries_say_where() {
        for (q, at) in [
            ("result =", 8),
            ("result = Fail AND", 17),
            ("(result = Fail", 14),
            ("result ~ Fail", 7),
            ("namespace IN {prod", 18),
            ("result = \"Fail", 9),
            ("result ! Fail", 7),
        ] {
            match Query::parse(q) {
                Err(RuleError::Query { at: got, .. }) => assert_eq!(got, at, "{q}"),
                other => panic!("{q}: {other:?}"),
            }
        }
        assert_eq!(
            Query::parse("colour = red"),
            Err(RuleError::Field("colour".into()))
        );
    }

    #[test]
    fn metrics_groups_and_conditions() {
        // Count of failing running images per namespace above 0.
        let mut r = rule("result = Fail AND running = true");
        r.aggregate_by = vec!["namespace".into()];
        let fired = r.evaluate(&records()).expect("evaluate");
        assert_eq!(fired.len(), 2);
        assert_eq!(fired[0].group["namespace"], "dev");
        assert_eq!((fired[1].value, fired[1].records), (1.0, 1));
        // Max CVSS in prod at least 9.
        let mut r = rule("namespace = prod");
        r.metric = Metric::Max;
        r.field = Some("max_cvss_score".into());
        r.condition = Condition::Gte;
        r.threshold = 9.0;
        assert_eq!(r.evaluate(&records()).expect("evaluate")[0].value, 9.8);
        r.threshold = 9.9;
        assert!(r.evaluate(&records()).expect("evaluate").is_empty());
        // Average, and a metric on a field that is not numeric.
        r.metric = Metric::Avg;
        r.condition = Condition::Lt;
        r.threshold = 8.0;
        assert_eq!(
            r.evaluate(&records()).expect("evaluate")[0].value,
            (9.8 + 5.3) / 2.0
        );
        r.field = Some("namespace".into());
        assert!(matches!(
            r.evaluate(&records()),
            Err(RuleError::Metric { .. })
        ));
        // Nothing selected: count 0, which `eq 0` fires on (an alert on absence).
        let mut r = rule("cve = CVE-1999-1");
        r.condition = Condition::Eq;
        r.threshold = 0.0;
        assert_eq!(r.evaluate(&records()).expect("evaluate")[0].records, 0);
        // Unknown rule fields are refused.
        assert!(
            serde_json::from_value::<Rule>(serde_json::json!({"name": "r", "colour": 1})).is_err()
        );
    }
}
