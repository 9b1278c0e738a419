//! Downsampling rules: per metric, how long raw samples are kept, which rollup
//! resolutions follow them and from what age, and when the data goes.
//!
//! A rule is `(matchers, [(after, resolution)…], keep_for)`: raw samples are served until
//! the first tier's `after`, then each tier's rollups until the next tier's `after`, the
//! last one until `keep_for`. Rules are tried in order and the first whose matchers all
//! match a series applies to it (a rule without matchers matches every series); a series
//! no rule matches is kept raw forever. [`Downsampling::standard`] is the mission's
//! default: raw 7 days, 1-minute rollups to 30 days, 1-hour rollups to 365 days.
//!
//! Rollups of every resolution a series' rule names are computed as soon as the raw data
//! of a day is complete (not when raw expires): there is never a gap between tiers, and a
//! crash never loses the only copy. Retention deletes whole segments: a segment of a
//! resolution goes when its whole range is older than the longest time any rule keeps
//! that resolution, so a tier's data lives up to one segment span (a day) past its rule.

use tsdb_index::{Labels, Matcher};

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// A rollup tier of a rule: from `after_ms` of age on, queries read rollups of
/// `resolution_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    /// Age (from the clock's now) from which this resolution is served.
    pub after_ms: i64,
    /// Bucket width in milliseconds.
    pub resolution_ms: i64,
}

/// A downsampling rule; see the module docs.
#[derive(Clone, Debug)]
pub struct DownsampleRule {
    /// The series the rule applies to (all of them must match); none: every series.
    pub matchers: Vec<Matcher>,
    /// Rollup tiers, by increasing `after_ms` and resolution.
    pub tiers: Vec<Tier>,
    /// Age after which the series' data is deleted; `None`: kept forever.
    pub keep_for_ms: Option<i64>,
}

impl DownsampleRule {
    /// Whether the rule applies to `labels`.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(labels.get(m.name()).unwrap_or("")))
    }

    /// How long data of `resolution_ms` (0: raw) is kept under this rule: `Some(0)` when
    /// the rule has no such tier, `None` for forever.
    pub fn keep_ms(&self, resolution_ms: i64) -> Option<i64> {
        if resolution_ms == 0 {
            return match self.tiers.first() {
                Some(t) => Some(t.after_ms),
                None => self.keep_for_ms,
            };
        }
        let i = self
            .tiers
            .iter()
            .position(|t| t.resolution_ms == resolution_ms);
        match i {
            None => Some(0),
            Some(i) => match self.tiers.get(i + 1) {
                Some(next) => Some(next.after_ms),
                None => self.keep_for_ms,
            },
        }
    }

    /// Whether the rule keeps rollups of `resolution_ms`.
    pub fn has_resolution(&self, resolution_ms: i64) -> bool {
        self.tiers.iter().any(|t| t.resolution_ms == resolution_ms)
    }
}

/// The downsampling rules of a database ([`crate::Options::downsampling`]).
#[derive(Clone, Debug, Default)]
pub struct Downsampling {
    /// Tried in order; the first that matches a series applies.
    pub rules: Vec<DownsampleRule>,
}

impl Downsampling {
    /// No rules: every series kept raw (subject to `Options::retention_ms`).
    pub fn none() -> Downsampling {
        Downsampling::default()
    }

    /// Raw 7 days, then 1-minute rollups until 30 days, then 1-hour rollups until 365
    /// days, for every series.
    pub fn standard() -> Downsampling {
        Downsampling {
            rules: vec![DownsampleRule {
                matchers: Vec::new(),
                tiers: vec![
                    Tier {
                        after_ms: 7 * DAY_MS,
                        resolution_ms: 60_000,
                    },
                    Tier {
                        after_ms: 30 * DAY_MS,
                        resolution_ms: 3_600_000,
                    },
                ],
                keep_for_ms: Some(365 * DAY_MS),
            }],
        }
    }

    /// True when no rule names a rollup tier nor a deletion age.
    pub fn is_none(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule for `labels`, if any.
    pub fn rule_for(&self, labels: &Labels) -> Option<&DownsampleRule> {
        self.rules.iter().find(|r| r.matches(labels))
    }

    /// The rollup resolutions every series has: those every rule names, when some rule
    /// matches every series (a series no rule matches is kept raw). Queries may read
    /// these in place of raw data wherever they exist.
    pub fn uniform_resolutions(&self) -> Vec<i64> {
        if !self.rules.iter().any(|r| r.matchers.is_empty()) {
            return Vec::new();
        }
        let mut out = self.resolutions();
        out.retain(|&res| self.rules.iter().all(|r| r.has_resolution(res)));
        out
    }

    /// Every rollup resolution a rule names, ascending.
    pub fn resolutions(&self) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .rules
            .iter()
            .flat_map(|r| r.tiers.iter().map(|t| t.resolution_ms))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// How long segments of `resolution_ms` (0: raw) must be kept: the longest any rule
    /// keeps it; `None` (forever) when a rule keeps it forever or, for raw data, when
    /// some series may match no rule (there is no rule without matchers).
    pub fn keep_ms(&self, resolution_ms: i64) -> Option<i64> {
        if self.rules.is_empty() {
            return None;
        }
        if resolution_ms == 0 && !self.rules.iter().any(|r| r.matchers.is_empty()) {
            return None;
        }
        let mut longest = 0i64;
        for r in &self.rules {
            longest = longest.max(r.keep_ms(resolution_ms)?);
        }
        Some(longest)
    }

    /// Checks the rules against the database's rollup window (a whole number of
    /// resolutions must fit in it): ages and resolutions positive and increasing, each
    /// resolution a multiple of the one before, `keep_for` after the last tier. The
    /// error names the rule (0-based) and what is wrong.
    pub fn validate(&self, window_ms: i64) -> Result<(), String> {
        for (i, r) in self.rules.iter().enumerate() {
            let mut prev: Option<&Tier> = None;
            for t in &r.tiers {
                if t.after_ms <= 0 {
                    return Err(format!("rule {i}: a tier's age must be positive"));
                }
                if t.resolution_ms <= 0 || window_ms % t.resolution_ms != 0 {
                    return Err(format!(
                        "rule {i}: resolution {}ms must be positive and divide the rollup \
                         window of {window_ms}ms",
                        t.resolution_ms
                    ));
                }
                if let Some(p) = prev {
                    if t.after_ms <= p.after_ms {
                        return Err(format!("rule {i}: tier ages must increase"));
                    }
                    if t.resolution_ms <= p.resolution_ms || t.resolution_ms % p.resolution_ms != 0
                    {
                        return Err(format!(
                            "rule {i}: resolution {}ms must be a multiple of the tier before's \
                             {}ms",
                            t.resolution_ms, p.resolution_ms
                        ));
                    }
                }
                prev = Some(t);
            }
            if let (Some(keep), Some(last)) = (r.keep_for_ms, r.tiers.last()) {
                if keep <= last.after_ms {
                    return Err(format!(
                        "rule {i}: keep_for must be longer than the last tier's age"
                    ));
                }
            }
            if r.keep_for_ms.is_some_and(|k| k <= 0) {
                return Err(format!("rule {i}: keep_for must be positive"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsdb_index::MatchOp;

    #[test]
    fn standard_keeps_raw_a_week_minutes_a_month_hours_a_year() {
        let d = Downsampling::standard();
        assert_eq!(d.validate(DAY_MS), Ok(()));
        assert_eq!(d.resolutions(), vec![60_000, 3_600_000]);
        assert_eq!(d.keep_ms(0), Some(7 * DAY_MS));
        assert_eq!(d.keep_ms(60_000), Some(30 * DAY_MS));
        assert_eq!(d.keep_ms(3_600_000), Some(365 * DAY_MS));
        assert_eq!(Downsampling::none().keep_ms(0), None);
        assert_eq!(d.uniform_resolutions(), vec![60_000, 3_600_000]);
        assert!(Downsampling::none().uniform_resolutions().is_empty());
    }

    #[test]
    fn first_matching_rule_wins_and_longest_keep_counts() {
        let m = Matcher::new(MatchOp::Equal, "__name__", "cpu").unwrap();
        let mut d = Downsampling::standard();
        d.rules.insert(
            0,
            DownsampleRule {
                matchers: vec![m],
                tiers: vec![],
                keep_for_ms: Some(30 * DAY_MS),
            },
        );
        let cpu = Labels::new([("__name__", "cpu")]).unwrap();
        let mem = Labels::new([("__name__", "mem")]).unwrap();
        assert!(d.rule_for(&cpu).unwrap().tiers.is_empty());
        assert_eq!(d.rule_for(&mem).unwrap().tiers.len(), 2);
        assert_eq!(d.keep_ms(0), Some(30 * DAY_MS), "cpu keeps raw 30 days");
        assert_eq!(d.keep_ms(60_000), Some(30 * DAY_MS));
        assert!(d.uniform_resolutions().is_empty(), "cpu has no rollups");
        // only a rule with matchers: unmatched series stay raw forever
        d.rules.pop();
        assert_eq!(d.keep_ms(0), None);
    }

    #[test]
    fn bad_rules_are_refused_by_name() {
        let t = |after_ms, resolution_ms| Tier {
            after_ms,
            resolution_ms,
        };
        let rule = |tiers, keep| Downsampling {
            rules: vec![DownsampleRule {
                matchers: vec![],
                tiers,
                keep_for_ms: keep,
            }],
        };
        let cases = [
            (rule(vec![t(0, 60_000)], None), "age must be positive"),
            (rule(vec![t(10, 7_000)], None), "divide the rollup window"),
            (
                rule(vec![t(10, 60_000), t(5, 3_600_000)], None),
                "ages must increase",
            ),
            (
                rule(vec![t(10, 60_000), t(20, 90_000)], None),
                "multiple of the tier",
            ),
            (
                rule(vec![t(10, 60_000)], Some(10)),
                "keep_for must be longer",
            ),
            (rule(vec![], Some(0)), "keep_for must be positive"),
        ];
        for (d, want) in cases {
            let err = d.validate(DAY_MS).unwrap_err();
            assert!(err.contains(want), "{err} should say {want}");
        }
    }
}
