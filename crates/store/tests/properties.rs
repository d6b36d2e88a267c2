//! What is written is read back, as a property over random inventories and reports, on both
//! backends (SQLite on a file, PostgreSQL from `scripts/postgres`): packages of several
//! ecosystems with odd names and versions, image configs, reports with and without packages.

use portcullis_core::{Ecosystem, ImageConfig, Inventory, ResultStore};
use portcullis_store::CodeVersions;
use portcullis_test_support::build::{digest, inventory, package, report};
use proptest::prelude::*;

fn versions() -> CodeVersions {
    CodeVersions {
        catalog: "python@1".into(),
        report: "python@1;language@1".into(),
    }
}

fn random_inventory() -> impl Strategy<Value = Inventory> {
    let eco = prop_oneof![
        Just(Ecosystem::PyPI),
        Just(Ecosystem::Npm),
        Just(Ecosystem::Debian),
        Just(Ecosystem::Go),
    ];
    // Names and versions with the characters real ones have, and some they should not.
    let name = "[a-zA-Z0-9@/._+~-]{1,24}";
    let version = "[0-9a-z.:+~-]{1,16}";
    let config = proptest::option::of((
        "[a-z0-9:]{0,8}",
        proptest::collection::vec("[0-9]{1,5}/(tcp|udp)", 0..3),
        proptest::collection::vec("[A-Z_]{1,12}", 0..4),
    ));
    (
        proptest::collection::vec((eco, name, version), 0..30),
        config,
    )
        .prop_map(|(pkgs, config)| {
            let mut inv = inventory(
                None,
                pkgs.iter().map(|(e, n, v)| package(*e, n, v)).collect(),
            );
            inv.packages.sort_by(|a, b| {
                (a.ecosystem.as_str(), &a.name, &a.version).cmp(&(
                    b.ecosystem.as_str(),
                    &b.name,
                    &b.version,
                ))
            });
            inv.image.config = config.map(|(user, exposed_ports, env_names)| ImageConfig {
                user,
                exposed_ports,
                env_names,
                created: None,
            });
            inv
        })
}

fn round_trips(store: &dyn ResultStore, n: u8, inv: &Inventory) -> Result<(), TestCaseError> {
    let d = digest(n);
    store.put_inventory(&d, inv).expect("put inventory");
    let read = store.inventory(&d).expect("read inventory");
    prop_assert_eq!(read.as_ref(), Some(inv));
    let r = report(inv, "db-1");
    store.put_report(&d, "db-1", &r).expect("put report");
    let back = store.report_for(&d, "db-1", inv).expect("read report");
    prop_assert_eq!(back.as_ref(), Some(&r));
    prop_assert!(store.report(&d, "db-2").expect("other version").is_none());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn sqlite_reads_back_what_was_written(invs in proptest::collection::vec(random_inventory(), 1..4)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("r.db").display()).parse().expect("url");
        let store = portcullis_store::open(&url, versions()).expect("open");
        for (i, inv) in invs.iter().enumerate() {
            round_trips(store.as_ref(), i as u8 + 1, inv)?;
        }
    }
}

#[test]
fn postgres_reads_back_what_was_written() {
    let Some(url) = portcullis_test_support::postgres::fresh_database("properties") else {
        return;
    };
    let store = portcullis_store::open(&url.parse().expect("url"), versions()).expect("open");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(24));
    let n = std::sync::atomic::AtomicU8::new(0);
    runner
        .run(&random_inventory(), |inv| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 250 + 1;
            round_trips(store.as_ref(), i, &inv)
        })
        .expect("round trips");
}
