//! No secret leaves `serve`: registry credentials and API tokens planted in a run are found in
//! none of its output (debug logs included), answers, metrics or API responses.

mod common;

use std::process::{Command, Stdio};

use common::*;

/// The fixtures' authenticating registry's password, and its `user:password` in base64 (as a
/// docker config holds it).
const PASSWORD: &str = "s3cret";
const AUTH_B64: &str = "cHVsbGVyOnMzY3JldA==";

#[test]
fn planted_secrets_appear_in_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let Some((db, _)) = pypi_db_and_registry(dir.path()) else {
        return;
    };
    let Some(auth_reg) = portcullis_test_support::inputs::auth_registry() else {
        return;
    };
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        format!(r#"{{"auths": {{"{auth_reg}": {{"auth": "{AUTH_B64}"}}}}}}"#),
    )
    .unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(
        policies.join("p.yaml"),
        "apiVersion: containersecurity.portcullis.dev/v1\nkind: ContainerAdmissionPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - action: Reject\n    imageScanStatus: {operator: IsOneOf, values: [Fail]}\n  - action: Allow\n",
    )
    .unwrap();
    let store = format!("sqlite:{}", dir.path().join("results.db").display());
    let read = token(&store, "read");
    let write = token(&store, "write");
    let (hook, api) = (free_port(), free_port());
    let server = Server(
        bin()
            .args([
                "serve",
                "-vv",
                "--webhook-listen",
                &format!("127.0.0.1:{hook}"),
            ])
            .args(["--api-listen", &format!("127.0.0.1:{api}")])
            .arg("--db")
            .arg(&db)
            .args(["--store", &store, "--insecure-registry", &auth_reg])
            .arg("--registry-auth")
            .arg(&config)
            .arg("--policies")
            .arg(&policies)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .args(["--db-update-interval", "off"])
            .stdout(std::fs::File::create(dir.path().join("serve.out")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
            .spawn()
            .expect("serve"),
    );
    assert!(
        eventually(|| call(api, "GET", "/api/v1/images", None, None).0 == 401),
        "the API did not answer"
    );

    let mut answers = String::new();
    // Reviews that pull with the credentials: one image that exists, one that does not.
    for (uid, image) in [
        ("s1", format!("{auth_reg}/portcullis/debian:bookworm")),
        ("s2", format!("{auth_reg}/portcullis/missing:1")),
    ] {
        let review = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"{uid}","kind":{{"group":"","version":"v1","kind":"Pod"}},"resource":{{"group":"","version":"v1","resource":"pods"}},"namespace":"default","operation":"CREATE","userInfo":{{"username":"u"}},"object":{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p","namespace":"default"}},"spec":{{"containers":[{{"name":"c","image":"{image}"}}]}}}}}}}}"#
        );
        let out = Command::new("curl")
            .args([
                "-ks",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
            ])
            .arg(&review)
            .arg(format!("https://127.0.0.1:{hook}/validate"))
            .output()
            .unwrap();
        answers.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    assert!(
        answers.contains(r#""uid":"s1","allowed":true"#),
        "the image behind the credentials was not admitted: {answers}"
    );
    // The API with each token, with a wrong secret, and the metrics.
    let wrong = format!("{}x", &read[..read.len() - 1]);
    for (path, token) in [
        ("/api/v1/images", Some(read.as_str())),
        ("/api/v1/decisions", Some(read.as_str())),
        ("/api/v1/status", Some(read.as_str())),
        ("/api/v1/whoami", Some(write.as_str())),
        ("/api/v1/tokens", Some(write.as_str())),
        ("/api/v1/images", Some(wrong.as_str())),
    ] {
        let (code, body) = call(api, "GET", path, token, None);
        answers.push_str(&format!("{path} {code} {body}\n"));
    }
    let metrics = Command::new("curl")
        .args(["-ks", &format!("https://127.0.0.1:{hook}/metrics")])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    answers.push_str(&String::from_utf8_lossy(&metrics.stdout));
    assert!(answers.contains("portcullis_"), "no metrics: {answers}");
    drop(server);

    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap()
        + &std::fs::read_to_string(dir.path().join("serve.out")).unwrap();
    // The run did log what it did with the registry, at debug level.
    assert!(log.contains(&auth_reg), "{log}");
    assert!(log.contains("DEBUG"), "no debug lines: {log}");
    let secret = |t: &str| t.rsplit('_').next().unwrap().to_string();
    for planted in [
        PASSWORD.to_string(),
        AUTH_B64.to_string(),
        secret(&read),
        secret(&write),
        secret(&wrong),
    ] {
        assert!(!log.contains(&planted), "{planted:?} in serve's log");
        assert!(!answers.contains(&planted), "{planted:?} in an answer");
    }
}
