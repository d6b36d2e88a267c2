//! `Scanner::scan_as`: a registry that refuses anonymous pulls (the htpasswd registry started by
//! scripts/fixtures) is scanned with a pod's pull-secret logins, and refused without them.

use std::collections::BTreeMap;

use portcullis_image::{Login, parse_pull_secret};
use portcullis_scanner::{Scanner, ScannerConfig};
use portcullis_test_support::auth_registry;

#[tokio::test]
async fn pull_secret_logins_open_a_private_registry() {
    let Some(reg) = auth_registry() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // Matching is not under test: an empty database will do.
    let db = dir.path().join("vuln.db");
    portcullis_vulndb::Db::import(&db, &[], None).expect("empty db");
    let scanner = |cache: std::path::PathBuf| {
        // A named Docker config that is missing is an error: point at an empty one instead.
        std::fs::create_dir_all(&cache).expect("cache dir");
        std::fs::write(cache.join("docker-config.json"), "{}").expect("write");
        Scanner::new(ScannerConfig {
            image: portcullis_image::Options {
                docker_config: Some(cache.join("docker-config.json")),
                cache_dir: cache,
                insecure_registries: vec![reg.clone()],
                ..Default::default()
            },
            db: Some(db.clone()),
            ..Default::default()
        })
        .expect("scanner")
    };
    let first = scanner(dir.path().join("one"));
    let image = format!("{reg}/portcullis/debian:bookworm");

    let err = first
        .scan_as(&image, &BTreeMap::new())
        .await
        .expect_err("anonymous pull must be refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("401") || msg.to_lowercase().contains("unauthorized"),
        "{msg}"
    );

    // Logins as the webhook gets them: parsed from a kubernetes.io/dockerconfigjson Secret.
    let secret = format!(r#"{{"auths":{{"{reg}":{{"username":"puller","password":"s3cret"}}}}}}"#);
    let logins: BTreeMap<String, Login> =
        parse_pull_secret(&secret, std::path::Path::new("secret/default/regcred"))
            .expect("pull secret parses");
    let report = first
        .scan_as(&image, &logins)
        .await
        .expect("pull with the secret's login");
    assert!(report.image.digest.is_some());
    assert!(
        report.packages.iter().any(|p| p.name == "dpkg"),
        "the Debian image's packages are catalogued"
    );

    // Wrong password: refused again, not served from some cache of the earlier pull.
    let fresh = scanner(dir.path().join("two"));
    let bad: BTreeMap<String, Login> = [(
        reg.clone(),
        Login {
            username: "puller".into(),
            password: "wrong".into(),
        },
    )]
    .into();
    assert!(fresh.scan_as(&image, &bad).await.is_err());
}
