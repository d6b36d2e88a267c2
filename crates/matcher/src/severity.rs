//! Severity of an advisory: the highest-version CVSS vector the record states, else one from
//! its aliases (NVD enrichment of a CVE id), else the record's severity word, else unknown.
//!
//! Vectors are scored with the `cvss` crate (v2.0, v3.0, v3.1, v4.0). The score is the one the
//! vector describes: the base score, or for v4 vectors that carry threat metrics (`E:P`) the
//! CVSS-BT score, as the v4 specification defines it.

use std::collections::HashMap;

use portcullis_core::{Advisory, Cvss, Severity, SeverityScore};

use portcullis_core::AdvisorySource;

use crate::MatchError;

/// Errors of severity scoring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeverityError {
    /// The text is not a CVSS vector this crate can score.
    #[error("invalid CVSS vector '{vector}': {reason}")]
    InvalidVector {
        /// The vector as given.
        vector: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Parses and scores a CVSS vector: `CVSS:4.0/...`, `CVSS:3.1/...`, `CVSS:3.0/...` or a bare
/// v2 vector (`AV:N/AC:L/Au:N/C:P/I:P/A:P`, optionally in parentheses or with a `CVSS:2.0/`
/// prefix). The returned [`Cvss::source`] is `None`.
pub fn score_vector(vector: &str) -> Result<Cvss, SeverityError> {
    let trimmed = vector.trim();
    let bare = trimmed
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(trimmed);
    let bare = bare.strip_prefix("CVSS:2.0/").unwrap_or(bare);
    let invalid = |reason: String| SeverityError::InvalidVector {
        vector: vector.to_string(),
        reason,
    };
    let parsed: cvss::Cvss = bare
        .parse()
        .map_err(|e: cvss::Error| invalid(e.to_string()))?;
    let version = match &parsed {
        cvss::Cvss::CvssV20(_) => "2.0",
        cvss::Cvss::CvssV30(_) => "3.0",
        cvss::Cvss::CvssV31(_) => "3.1",
        cvss::Cvss::CvssV40(_) => "4.0",
        _ => return Err(invalid("unsupported CVSS version".to_string())),
    };
    let required: &[&str] = match version {
        "2.0" => &["AV", "AC", "Au", "C", "I", "A"],
        "4.0" => &[
            "AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA",
        ],
        _ => &["AV", "AC", "PR", "UI", "S", "C", "I", "A"],
    };
    // The parser leaves absent metrics unset and scores them as zero; a vector without all of
    // its base metrics has no defined score.
    let present: Vec<&str> = bare
        .split('/')
        .filter_map(|c| c.split_once(':').map(|(k, _)| k))
        .collect();
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|m| !present.contains(m))
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "missing base metrics {}",
            missing.join(", ")
        )));
    }
    let score = parsed.score();
    if !(0.0..=10.0).contains(&score) {
        return Err(invalid(format!("score {score} out of range")));
    }
    Ok(Cvss {
        version: version.to_string(),
        vector: bare.to_string(),
        score,
        source: None,
    })
}

/// Rank of a CVSS version for "pick the newest": 4.0 > 3.1 > 3.0 > 2.0.
pub(crate) fn version_rank(version: &str) -> u8 {
    match version {
        "4.0" => 4,
        "3.1" => 3,
        "3.0" => 2,
        _ => 1,
    }
}

fn is_vector_kind(kind: &str) -> bool {
    kind.to_ascii_uppercase().starts_with("CVSS")
}

/// The highest-version vector among `scores` that parses (first one on ties). Unparseable
/// vectors are warned about, naming `owner`, and skipped.
fn best_vector(scores: &[SeverityScore], owner: &str) -> Option<Cvss> {
    let mut best: Option<Cvss> = None;
    for s in scores.iter().filter(|s| is_vector_kind(&s.kind)) {
        match score_vector(&s.score) {
            Ok(c) => {
                if best
                    .as_ref()
                    .is_none_or(|b| version_rank(&c.version) > version_rank(&b.version))
                {
                    best = Some(c);
                }
            }
            Err(e) => tracing::warn!(record = owner, "ignoring severity: {e}"),
        }
    }
    best
}

/// The most severe recognised severity word among `scores`.
fn best_word(scores: &[SeverityScore]) -> Option<Severity> {
    scores
        .iter()
        .filter(|s| !is_vector_kind(&s.kind))
        .filter_map(|s| Severity::from_word(&s.score))
        .max()
}

/// Severity and CVSS of one advisory. `src` answers for aliases when the record has no vector.
pub fn assess_severity(
    adv: &Advisory,
    src: &dyn AdvisorySource,
) -> Result<(Severity, Option<Cvss>), MatchError> {
    SeverityCache::new(src).assess(adv)
}

/// [`assess_severity`] with memory: one scan asks about the same advisories and aliases many
/// times (one advisory, many packages), and alias lookups hit the database.
pub(crate) struct SeverityCache<'a> {
    src: &'a dyn AdvisorySource,
    advisories: HashMap<String, (Severity, Option<Cvss>)>,
    aliases: HashMap<String, std::sync::Arc<[SeverityScore]>>,
}

impl<'a> SeverityCache<'a> {
    pub(crate) fn new(src: &'a dyn AdvisorySource) -> Self {
        SeverityCache {
            src,
            advisories: HashMap::new(),
            aliases: HashMap::new(),
        }
    }

    pub(crate) fn assess(
        &mut self,
        adv: &Advisory,
    ) -> Result<(Severity, Option<Cvss>), MatchError> {
        if let Some(r) = self.advisories.get(&adv.id) {
            return Ok(r.clone());
        }
        let r = self.compute(adv)?;
        self.advisories.insert(adv.id.clone(), r.clone());
        Ok(r)
    }

    fn alias_scores(&mut self, alias: &str) -> Result<&[SeverityScore], MatchError> {
        if !self.aliases.contains_key(alias) {
            let scores = self.src.alias_severity(alias)?;
            self.aliases.insert(alias.to_string(), scores);
        }
        Ok(self.aliases.get(alias).map(|s| &**s).unwrap_or_default())
    }

    fn compute(&mut self, adv: &Advisory) -> Result<(Severity, Option<Cvss>), MatchError> {
        if let Some(c) = best_vector(&adv.severity, &adv.id) {
            return Ok((Severity::from_score(c.score), Some(c)));
        }
        let mut from_alias: Option<Cvss> = None;
        let mut alias_word: Option<Severity> = None;
        for alias in &adv.aliases {
            if *alias == adv.id {
                continue;
            }
            let scores = self.alias_scores(alias)?.to_vec();
            if let Some(mut c) = best_vector(&scores, alias)
                && from_alias
                    .as_ref()
                    .is_none_or(|b| version_rank(&c.version) > version_rank(&b.version))
            {
                c.source = Some(alias.clone());
                from_alias = Some(c);
            }
            alias_word = alias_word.max(best_word(&scores));
        }
        if let Some(c) = from_alias {
            return Ok((Severity::from_score(c.score), Some(c)));
        }
        if let Some(w) = best_word(&adv.severity).or(alias_word) {
            return Ok((w, None));
        }
        Ok((Severity::Unknown, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemorySource;

    fn score(kind: &str, s: &str) -> SeverityScore {
        SeverityScore {
            kind: kind.into(),
            score: s.into(),
        }
    }

    fn adv(id: &str, aliases: &[&str], severity: Vec<SeverityScore>) -> Advisory {
        Advisory {
            id: id.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            summary: None,
            modified: None,
            withdrawn: None,
            severity,
            affected: vec![],
            kind: Default::default(),
            source: "test".into(),
        }
    }

    /// Values from the CVSS specifications' calculators (v3.1 and v2: FIRST; also NVD records
    /// in the test data state the same pairs), v4.0 from the FIRST v4 calculator.
    #[test]
    fn known_scores() {
        let cases = [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.1", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:N/A:N", "3.1", 8.6),
            ("CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "3.0", 6.1),
            ("CVSS:3.1/AV:A/AC:L/PR:N/UI:R/S:U/C:N/I:L/A:N", "3.1", 3.5),
            ("AV:N/AC:L/Au:N/C:P/I:P/A:P", "2.0", 7.5),
            ("(AV:N/AC:M/Au:N/C:N/I:P/A:N)", "2.0", 4.3),
            ("AV:N/AC:L/Au:N/C:C/I:C/A:C", "2.0", 10.0),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                "4.0",
                9.3,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N",
                "4.0",
                8.7,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N",
                "4.0",
                8.2,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
                "4.0",
                0.0,
            ),
        ];
        for (vector, version, expected) in cases {
            let c = score_vector(vector).unwrap_or_else(|e| panic!("{vector}: {e}"));
            assert_eq!(c.version, version, "{vector}");
            assert!(
                (c.score - expected).abs() < 1e-9,
                "{vector}: got {}, expected {expected}",
                c.score
            );
        }
    }

    #[test]
    fn invalid_vectors_are_errors() {
        for v in [
            "",
            "CVSS:3.1/AV:N",
            "CVSS:9.0/AV:N/AC:L",
            "HIGH",
            "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        ] {
            assert!(score_vector(v).is_err(), "{v} should not score");
        }
    }

    #[test]
    fn highest_version_vector_wins() {
        let a = adv(
            "GHSA-1",
            &[],
            vec![
                score("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
                score(
                    "CVSS_V4",
                    "CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N",
                ),
                score("CVSS_V2", "AV:N/AC:L/Au:N/C:C/I:C/A:C"),
            ],
        );
        let (sev, c) = assess_severity(&a, &MemorySource::default()).unwrap();
        let c = c.unwrap();
        assert_eq!(c.version, "4.0");
        assert_eq!(sev, Severity::High);
        assert_eq!(c.source, None);
    }

    #[test]
    fn invalid_vector_falls_back_to_next() {
        let a = adv(
            "GHSA-2",
            &[],
            vec![
                score("CVSS_V4", "CVSS:4.0/garbage"),
                score("CVSS_V3", "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"),
            ],
        );
        let (sev, c) = assess_severity(&a, &MemorySource::default()).unwrap();
        assert_eq!(c.unwrap().score, 7.8);
        assert_eq!(sev, Severity::High);
    }

    #[test]
    fn alias_vector_records_its_source() {
        let src = MemorySource::default().with_alias_severity(
            "CVE-2019-10906",
            vec![
                score("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:N/A:N"),
                score("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:N/A:N"),
            ],
        );
        let a = adv(
            "PYSEC-2019-217",
            &["GHSA-462w-v97r-4m45", "CVE-2019-10906"],
            vec![score("word", "low")],
        );
        let (sev, c) = assess_severity(&a, &src).unwrap();
        let c = c.unwrap();
        assert_eq!(c.source.as_deref(), Some("CVE-2019-10906"));
        assert_eq!(c.score, 8.6);
        assert_eq!(
            sev,
            Severity::High,
            "an alias vector beats the record's own word"
        );
    }

    #[test]
    fn word_then_unknown() {
        let src = MemorySource::default();
        let (sev, c) = assess_severity(
            &adv("X-1", &["CVE-1"], vec![score("word", "Moderate")]),
            &src,
        )
        .unwrap();
        assert_eq!((sev, c), (Severity::Medium, None));
        let (sev, c) = assess_severity(&adv("X-2", &[], vec![]), &src).unwrap();
        assert_eq!((sev, c), (Severity::Unknown, None));
    }
}
