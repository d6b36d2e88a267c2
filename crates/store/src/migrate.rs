//! Versioned schemas: each backend lists its migrations in order, and a store records the
//! version it is at. Opening applies the ones it lacks; a store ahead of the list is refused.

use crate::SchemaTooNew;

/// One step of a schema: what brings a store from `version - 1` to `version`.
pub(crate) struct Migration {
    /// The version this step brings the store to (1, 2, ... without gaps).
    pub(crate) version: u32,
    /// The statements.
    pub(crate) sql: &'static str,
}

/// The steps a store at version `found` needs, in order; refused when `found` is newer than the
/// last step.
pub(crate) fn plan(
    all: &'static [Migration],
    found: u32,
) -> Result<&'static [Migration], SchemaTooNew> {
    let known = all.last().map_or(0, |m| m.version);
    if found > known {
        return Err(SchemaTooNew { found, known });
    }
    let done = all.iter().take_while(|m| m.version <= found).count();
    Ok(&all[done..])
}

#[cfg(test)]
mod tests {
    use super::*;

    static STEPS: &[Migration] = &[
        Migration {
            version: 1,
            sql: "a",
        },
        Migration {
            version: 2,
            sql: "b",
        },
    ];

    #[test]
    fn plans_what_is_missing_and_refuses_the_future() {
        let sqls = |found| plan(STEPS, found).map(|p| p.iter().map(|m| m.sql).collect::<Vec<_>>());
        assert_eq!(sqls(0), Ok(vec!["a", "b"]));
        assert_eq!(sqls(1), Ok(vec!["b"]));
        assert_eq!(sqls(2), Ok(vec![]));
        assert_eq!(sqls(3), Err(SchemaTooNew { found: 3, known: 2 }));
    }
}
