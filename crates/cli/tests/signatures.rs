//! Signature and attestation rules on images signed by Debian's cosign in the local registry,
//! decided by `policy test` (the same preparation and evaluation as the webhook's; the
//! kube-apiserver run in `e2e_k8s.rs` covers the served path).
//!
//! Every case the supply-chain issue names: signed, unsigned, signed by another key, a
//! signature for another digest, a tampered payload, garbage in the signature, the OCI
//! referrers scheme, two keys required, fresh, expired and failing scan attestations, an
//! unreachable registry and a key in the wrong format; certificates chained to configured roots;
//! attested SBOMs; and the image-config and feed-age rules on images made with umoci.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, fixtures, registry};
use serde_json::{Value, json};

/// cosign 2.5 (`scripts/tool-peers cosign`, from Debian trixie), as `PORTCULLIS_COSIGN` names it.
fn cosign() -> Option<PathBuf> {
    portcullis_test_support::tool_from_env("PORTCULLIS_COSIGN", "cosign")
}

struct Lab {
    dir: tempfile::TempDir,
    cosign: PathBuf,
    reg: String,
    repo: String,
}

impl Lab {
    fn new() -> Option<Lab> {
        let (cosign, reg, _) = (cosign()?, registry()?, fixtures()?);
        let dir = tempfile::tempdir().unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let lab = Lab {
            dir,
            cosign,
            reg,
            repo: format!("sigs/t{}-{nanos}", std::process::id()),
        };
        for name in ["ours", "theirs"] {
            let d = lab.dir.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            lab.cosign_in(&d, &["generate-key-pair"]);
        }
        Some(lab)
    }

    fn cosign_in(&self, dir: &Path, args: &[&str]) {
        let mut cosign = Command::new(&self.cosign);
        cosign
            .env("COSIGN_PASSWORD", "")
            .env("COSIGN_EXPERIMENTAL", "1");
        run_in(cosign, dir, args);
    }

    fn key(&self, who: &str) -> String {
        self.dir
            .path()
            .join(who)
            .join("cosign.key")
            .display()
            .to_string()
    }

    /// The key's id as evidence names it: the first 16 hex digits of its DER's SHA-256.
    fn key_id(&self, who: &str) -> String {
        let out = Command::new("openssl")
            .args(["pkey", "-pubin", "-outform", "DER", "-in"])
            .arg(self.dir.path().join(who).join("cosign.pub"))
            .output()
            .expect("openssl");
        assert!(out.status.success());
        format!("sha256:{}", &sha2_digest::hex_sha256(&out.stdout)[..16])
    }

    fn public(&self, who: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(who).join("cosign.pub")).unwrap()
    }

    /// Pushes the fixture layout's `fixture` tag as `tag` of this lab's repository; returns the
    /// image's reference by tag and its digest.
    fn push(&self, fixture: &str, tag: &str) -> (String, String) {
        let layout = fixtures().unwrap().join("oci");
        let reference = format!("{}/{}:{tag}", self.reg, self.repo);
        let ok = Command::new("skopeo")
            .args(["copy", "-q", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:{fixture}", layout.display()))
            .arg(format!("docker://{reference}"))
            .status()
            .expect("skopeo");
        assert!(ok.success(), "skopeo copy {fixture} to {reference}");
        let index: Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let digest = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == fixture)
            .and_then(|m| m["digest"].as_str())
            .unwrap()
            .to_string();
        (reference, digest)
    }

    fn sign(&self, who: &str, digest: &str, extra: &[&str]) {
        let target = format!("{}/{}@{digest}", self.reg, self.repo);
        let key = self.key(who);
        let mut args = vec![
            "sign",
            "--yes",
            "--key",
            &key,
            "--tlog-upload=false",
            "--allow-insecure-registry",
        ];
        args.extend_from_slice(extra);
        args.push(&target);
        self.cosign_in(self.dir.path(), &args);
    }

    /// `cosign attest --type cyclonedx` of the SBOM `portcullis sbom` writes for `fixture`.
    fn attest_sbom(&self, who: &str, fixture: &str, digest: &str) {
        let layout = fixtures().unwrap().join("oci");
        let sbom = self.dir.path().join(format!("sbom-{fixture}.json"));
        let (image, out) = (
            format!("oci:{}:{fixture}", layout.display()),
            sbom.display().to_string(),
        );
        run_in(
            bin(),
            self.dir.path(),
            &["sbom", &image, "--format", "cyclonedx-json", "-o", &out],
        );
        self.cosign_attest(who, digest, "cyclonedx", &sbom);
    }

    /// `cosign attest --type vuln` of a scan finished `finished`, holding `result`.
    fn attest(&self, who: &str, digest: &str, finished: &str, result: Value) {
        let predicate = self.dir.path().join(format!("pred-{finished}.json"));
        let body = json!({
            "invocation": {"uri": "", "event_id": "", "builder.id": ""},
            "scanner": {"uri": "pkg:github/aquasecurity/trivy", "version": "0.58.0",
                        "db": {"uri": "", "version": ""}, "result": result},
            "metadata": {"scanStartedOn": finished, "scanFinishedOn": finished},
        });
        std::fs::write(&predicate, body.to_string()).unwrap();
        self.cosign_attest(who, digest, "vuln", &predicate);
    }

    /// `cosign attest --type KIND --predicate FILE` of this lab's image `digest` by `who`.
    fn cosign_attest(&self, who: &str, digest: &str, kind: &str, predicate: &Path) {
        let target = format!("{}/{}@{digest}", self.reg, self.repo);
        let (key, pred) = (self.key(who), predicate.display().to_string());
        self.cosign_in(
            self.dir.path(),
            &[
                "attest",
                "--yes",
                "--key",
                &key,
                "--tlog-upload=false",
                "--allow-insecure-registry",
                "--type",
                kind,
                "--predicate",
                &pred,
                &target,
            ],
        );
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/v2/{}/{path}", self.reg, self.repo)
    }

    fn get(&self, path: &str, accept: &str) -> Vec<u8> {
        let out = Command::new("curl")
            .args(["-fsS", "-H", &format!("Accept: {accept}"), &self.url(path)])
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "GET {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn put_manifest(&self, tag: &str, manifest: &Value) {
        let out = Command::new("curl")
            .args([
                "-fsS",
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/vnd.oci.image.manifest.v1+json",
            ])
            .args([
                "--data-binary",
                &manifest.to_string(),
                &self.url(&format!("manifests/{tag}")),
            ])
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "PUT {tag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Uploads `bytes` as a blob (monolithic upload), returning its digest.
    fn put_blob(&self, bytes: &[u8]) -> String {
        use sha2_digest::hex_sha256;
        let digest = format!("sha256:{}", hex_sha256(bytes));
        let file = self.dir.path().join("blob");
        std::fs::write(&file, bytes).unwrap();
        let out = Command::new("curl")
            .args([
                "-fsS",
                "-X",
                "POST",
                "-D",
                "-",
                "-o",
                "/dev/null",
                &self.url("blobs/uploads/"),
            ])
            .output()
            .expect("curl");
        let headers = String::from_utf8_lossy(&out.stdout);
        let location = headers
            .lines()
            .find_map(|l| {
                l.strip_prefix("Location: ")
                    .or_else(|| l.strip_prefix("location: "))
            })
            .expect("upload location")
            .trim()
            .to_string();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("http://{}{location}", self.reg)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let ok = Command::new("curl")
            .args([
                "-fsS",
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/octet-stream",
            ])
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!("{location}{sep}digest={digest}"))
            .status()
            .expect("curl");
        assert!(ok.success(), "blob upload");
        digest
    }

    fn policy(&self, name: &str, rules: Value) -> PathBuf {
        let dir = self.dir.path().join(format!("pol-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let p = json!({"apiVersion": "containersecurity.portcullis.dev/v1",
            "kind": "ContainerAdmissionPolicy", "metadata": {"name": name},
            "spec": {"order": 1, "rules": rules}});
        std::fs::write(dir.join("p.json"), p.to_string()).unwrap();
        dir
    }

    /// `policy test` of a pod running `image`: exit code, the response's message (or evidence),
    /// stderr.
    fn decide(&self, policies: &Path, image: &str, registry: &str) -> (i32, String, String) {
        self.decide_with(policies, image, registry, &[])
    }

    fn decide_with(
        &self,
        policies: &Path,
        image: &str,
        registry: &str,
        extra: &[&str],
    ) -> (i32, String, String) {
        let mut args = vec!["--insecure-registry", registry];
        args.extend_from_slice(extra);
        policy_test(
            self.dir.path(),
            policies,
            json!({"containers": [{"name": "c", "image": image}]}),
            &args,
        )
    }
}

/// SHA-256 in hex, by `sha256sum` (the test crate has no hash dependency of its own).
mod sha2_digest {
    pub(super) fn hex_sha256(bytes: &[u8]) -> String {
        use std::io::Write as _;
        let mut child = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sha256sum");
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }
}

#[test]
fn signatures_decide_admission() {
    let Some(lab) = Lab::new() else { return };
    let ours = lab.public("ours");
    let theirs = lab.public("theirs");
    let signed_only = lab.policy(
        "signed-only",
        json!([{"action": "Allow", "signature": {"keys": [ours], "count": 1}}, {"action": "Reject"}]),
    );
    let reg = lab.reg.clone();

    // Signed by our key (the .sig tag scheme): admitted.
    let (signed, d_signed) = lab.push("bookworm", "signed");
    lab.sign("ours", &d_signed, &[]);
    let (rc, msg, err) = lab.decide(&signed_only, &signed, &reg);
    assert_eq!(rc, 0, "signed image: {msg} {err}");
    let our_key = lab.key_id("ours");
    assert!(
        msg.contains(&format!("verified by {our_key} (tag sha256-")),
        "the admission names the key and where its signature was: {msg}"
    );

    // The same content would carry the signature, so the other cases use the other fixture.
    let (other, d_other) = lab.push("lang", "other");

    // Unsigned: rejected, saying nothing was found.
    let (rc, msg, _) = lab.decide(&signed_only, &other, &reg);
    assert_eq!(rc, 1, "{msg}");
    assert!(msg.contains("no cosign signature found"), "{msg}");
    assert!(
        msg.contains("rejected by policy \"signed-only\" rule 2"),
        "{msg}"
    );

    // Signed by another key: rejected, saying the signature does not verify with ours.
    lab.sign("theirs", &d_other, &[]);
    let (rc, msg, _) = lab.decide(&signed_only, &other, &reg);
    assert_eq!(rc, 1, "{msg}");
    assert!(msg.contains("does not verify with key sha256:"), "{msg}");

    // Both keys required, the image signed by both: admitted; by one: rejected.
    let both = lab.policy(
        "both",
        json!([{"action": "Allow", "signature": {"keys": [ours, theirs], "count": 2}}, {"action": "Reject"}]),
    );
    lab.sign("ours", &d_other, &[]);
    assert_eq!(lab.decide(&both, &other, &reg).0, 0);
    assert_eq!(lab.decide(&both, &signed, &reg).0, 1);

    // A valid signature of another image, copied to this one's signature tag: rejected.
    let sig_of_signed = lab.get(
        &format!(
            "manifests/sha256-{}.sig",
            d_signed.trim_start_matches("sha256:")
        ),
        "application/vnd.oci.image.manifest.v1+json",
    );
    let sig: Value = serde_json::from_slice(&sig_of_signed).unwrap();
    // Puts `manifest` where `other`'s signatures are looked for (replacing what is there) and
    // expects `other` rejected with `why` in the message.
    let forged_rejected = |manifest: &Value, why: &str| {
        lab.put_manifest(
            &format!("sha256-{}.sig", d_other.trim_start_matches("sha256:")),
            manifest,
        );
        let (rc, msg, _) = lab.decide(&signed_only, &other, &reg);
        assert_eq!(rc, 1, "{msg}");
        assert!(msg.contains(why), "{why}: {msg}");
    };
    // The signature of `signed` (our key) put where `other`'s signatures are looked for,
    // replacing the genuine ones.
    forged_rejected(&sig, &format!("for another image ({d_signed})"));

    // A tampered payload (the signed JSON changed to name this image): does not verify.
    let layer = &sig["layers"][0];
    let payload = lab.get(
        &format!("blobs/{}", layer["digest"].as_str().unwrap()),
        "application/octet-stream",
    );
    let forged = String::from_utf8(payload)
        .unwrap()
        .replace(&d_signed, &d_other)
        .into_bytes();
    let forged_digest = lab.put_blob(&forged);
    let mut tampered = sig.clone();
    tampered["layers"][0]["digest"] = forged_digest.clone().into();
    tampered["layers"][0]["size"] = forged.len().into();
    forged_rejected(&tampered, "the signature does not verify");

    // Garbage in the signature annotation.
    let mut garbage = sig.clone();
    garbage["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] = "%%%".into();
    forged_rejected(&garbage, "not base64");

    // A signature manifest of 70 layers: the first 64 are read, and it says so.
    let mut huge = garbage.clone();
    huge["layers"] = Value::Array(vec![garbage["layers"][0].clone(); 70]);
    forged_rejected(&huge, "70 layers, only the first 64 are read");

    // A genuine signature layer under another media type is no signature.
    let mut retyped = sig.clone();
    retyped["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar".into();
    forged_rejected(&retyped, "no cosign signature found");

    // The OCI referrers scheme (cosign's oci-1-1 mode; this registry has no referrers API, so
    // the fallback tag): a signature found there counts.
    lab.sign("ours", &d_other, &["--registry-referrers-mode=oci-1-1"]);
    let (rc, msg, err) = lab.decide(&signed_only, &other, &reg);
    assert_eq!(rc, 0, "referrers-mode signature: {msg} {err}");

    // The registry unreachable while verifying: rejected (--on-scan-error reject), saying so.
    let gone = "127.0.0.1:9";
    let (rc, msg, _) = lab.decide(&signed_only, &format!("{gone}/app:1"), gone);
    assert_eq!(rc, 1, "{msg}");
    assert!(msg.contains("its signatures could not be fetched"), "{msg}");

    // A key in the wrong format: the policy does not load (exit 2), naming the key.
    let bad = lab.policy(
        "bad-key",
        json!([{"action": "Allow", "signature": {"keys": ["ssh-ed25519 AAAA"]}}]),
    );
    let (rc, _, err) = lab.decide(&bad, &signed, &reg);
    assert_eq!(rc, 2, "{err}");
    assert!(
        err.contains("signature.keys[0]") && err.contains("not a PEM public key"),
        "{err}"
    );
}

#[test]
fn scan_attestations_stand_in_for_the_scan() {
    let Some(lab) = Lab::new() else { return };
    let ours = lab.public("ours");
    let attested = lab.policy(
        "attested",
        json!([
            {"action": "Allow",
             "attestation": {"keys": [ours], "predicateType": "vuln", "maxAge": "3d"},
             "imageScanStatus": {"operator": "IsNoneOf", "values": ["Fail"]}},
            {"action": "Reject"}
        ]),
    );
    let reg = lab.reg.clone();
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| portcullis_core::format_time(t);
    let clean =
        json!({"SchemaVersion": 2, "Results": [{"Target": "debian", "Vulnerabilities": []}]});
    let critical = json!({"SchemaVersion": 2, "Results": [{"Target": "debian", "Vulnerabilities": [
        {"VulnerabilityID": "CVE-2024-0001", "PkgName": "openssl", "InstalledVersion": "3.0.1",
         "FixedVersion": "3.0.2", "CVSS": {"nvd": {"V3Score": 9.8}}}]}]});

    // A fresh attested clean scan by our key: admitted without a scan at admission.
    let (fresh, d_fresh) = lab.push("bookworm", "fresh");
    lab.attest(
        "ours",
        &d_fresh,
        &fmt(now - time::Duration::hours(1)),
        clean.clone(),
    );
    let (rc, msg, err) = lab.decide(&attested, &fresh, &reg);
    assert_eq!(rc, 0, "fresh clean attestation: {msg} {err}");

    // Expired: an attestation of a scan 10 days old does not count.
    let (old, d_old) = lab.push("lang", "old");
    lab.attest("ours", &d_old, &fmt(now - time::Duration::days(10)), clean);
    let (rc, msg, _) = lab.decide(&attested, &old, &reg);
    assert_eq!(rc, 1, "{msg}");
    assert!(
        msg.contains(
            "attestations (https://cosign.sigstore.dev/attestation/vuln/v1): attested by sha256:"
        ),
        "{msg}"
    );

    // A fresh attestation of a failing scan: the attested result decides (Fail: rejected).
    lab.attest(
        "ours",
        &d_old,
        &fmt(now - time::Duration::minutes(5)),
        critical,
    );
    let (rc, msg, _) = lab.decide(&attested, &old, &reg);
    assert_eq!(rc, 1, "{msg}");
    // And the other key's attestation is not ours.
    let theirs_only = lab.policy(
        "theirs",
        json!([{"action": "Allow", "attestation": {"keys": [lab.public("theirs")], "predicateType": "vuln"}},
               {"action": "Reject"}]),
    );
    let (rc, msg, _) = lab.decide(&theirs_only, &fresh, &reg);
    assert_eq!(rc, 1, "{msg}");
    assert!(
        msg.contains("no signature of the envelope verifies"),
        "{msg}"
    );
}

#[test]
fn an_attested_sbom_is_matched_instead_of_pulling() {
    let Some(lab) = Lab::new() else { return };
    let Some(td) = common::testdata() else { return };
    let db = lab.dir.path().join("vuln.db");
    let (db_path, pypi) = (
        db.display().to_string(),
        td.join("advisories/pypi").display().to_string(),
    );
    run_in(
        bin(),
        lab.dir.path(),
        &["db", "import", "--db", &db_path, &pypi],
    );
    let policy = lab.policy(
        "sbom-attested",
        json!([
            {"action": "Allow",
             "attestation": {"keys": [lab.public("ours")], "predicateType": "cyclonedx", "maxAge": "1d"},
             "imageScanStatus": {"operator": "IsNoneOf", "values": ["Fail"]}},
            {"action": "Reject"}
        ]),
    );
    let reg = lab.reg.clone();
    let db_arg = db.display().to_string();
    // The Python fixture's SBOM, signed: its packages matched against the PyPI advisories fail.
    let (lang, d_lang) = lab.push("lang", "lang");
    lab.attest_sbom("ours", "lang", &d_lang);
    let (rc, msg, err) = lab.decide_with(&policy, &lang, &reg, &["--db", &db_arg]);
    assert_eq!(rc, 1, "{msg} {err}");
    assert!(msg.contains("attested by sha256:"), "{msg}");
    assert!(msg.contains("attested scan: status Fail"), "{msg}");
    // Debian's SBOM holds no PyPI package: not Fail (uncovered packages make it Warn), admitted.
    let (debian, d_debian) = lab.push("bookworm", "debian");
    lab.attest_sbom("ours", "bookworm", &d_debian);
    let (rc, msg, err) = lab.decide_with(&policy, &debian, &reg, &["--db", &db_arg]);
    assert_eq!(rc, 0, "{msg} {err}");
    // Without a DB the SBOM cannot stand in for a scan: rejected, saying why.
    let (rc, msg, _) = lab.decide(&policy, &debian, &reg);
    assert_eq!(rc, 1, "{msg}");
    assert!(msg.contains("no vulnerability DB"), "{msg}");
}

/// Runs `tool` with `args` in `dir`; its failure fails the test with its stderr.
fn run_in(mut tool: Command, dir: &Path, args: &[&str]) {
    let out = tool
        .current_dir(dir)
        .args(args)
        .output()
        .expect("start the tool");
    assert!(
        out.status.success(),
        "{:?} {args:?}: {}",
        tool.get_program(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs openssl (Debian's; the test's certificate authority) in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    run_in(Command::new("openssl"), dir, args);
}

/// A root CA in `dir/NAME.pem` (key `NAME.key`).
fn root_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "30",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
}

#[test]
fn certificate_signatures_chain_to_configured_roots() {
    let Some(lab) = Lab::new() else { return };
    let dir = lab.dir.path().join("pki");
    std::fs::create_dir_all(&dir).unwrap();
    root_ca(&dir, "root");
    root_ca(&dir, "rogue");
    // A code-signing certificate for our cosign key, e-mail identity, issued by `root`.
    openssl(
        &dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "csr.key",
        ],
    );
    openssl(
        &dir,
        &[
            "req", "-new", "-key", "csr.key", "-out", "leaf.csr", "-subj", "/O=ci",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=codeSigning\nsubjectAltName=email:ci@example.com\n",
    )
    .unwrap();
    let ours_pub = lab.dir.path().join("ours/cosign.pub").display().to_string();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-force_pubkey",
            &ours_pub,
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "7",
            "-extfile",
            "ext.cnf",
        ],
    );
    let (image, digest) = lab.push("bookworm", "cert");
    let target = format!("{}/{}@{digest}", lab.reg, lab.repo);
    let (key, leaf, chain) = (
        lab.key("ours"),
        dir.join("leaf.pem").display().to_string(),
        dir.join("root.pem").display().to_string(),
    );
    lab.cosign_in(
        lab.dir.path(),
        &[
            "sign",
            "--yes",
            "--key",
            &key,
            "--certificate",
            &leaf,
            "--certificate-chain",
            &chain,
            "--tlog-upload=false",
            "--allow-insecure-registry",
            &target,
        ],
    );
    let root = std::fs::read_to_string(dir.join("root.pem")).unwrap();
    let rogue = std::fs::read_to_string(dir.join("rogue.pem")).unwrap();
    let policy = |name: &str, roots: &str, subject: &str| {
        lab.policy(
            name,
            json!([{"action": "Allow", "signature": {"certificates": {"roots": [roots], "subjects": [subject]}}},
                   {"action": "Reject"}]),
        )
    };
    let reg = lab.reg.clone();
    let (rc, msg, err) = lab.decide(&policy("ci", &root, "^ci@example\\.com$"), &image, &reg);
    assert_eq!(rc, 0, "{msg} {err}");
    assert!(
        msg.contains("verified by certificate ci@example.com"),
        "{msg}"
    );
    // Another identity is not enough.
    let (rc, msg, _) = lab.decide(&policy("release", &root, "^release@"), &image, &reg);
    assert_eq!(rc, 1, "{msg}");
    assert!(
        msg.contains("verified by certificate ci@example.com"),
        "evidence still says who signed: {msg}"
    );
    // A certificate that does not chain to the configured root does not count.
    let (rc, msg, _) = lab.decide(&policy("rogue", &rogue, "^ci@example\\.com$"), &image, &reg);
    assert_eq!(rc, 1, "{msg}");
    assert!(msg.contains("does not chain to the given roots"), "{msg}");
    // A root that is no certificate: the policy does not load.
    let (rc, _, err) = lab.decide(&policy("bad-root", "not a certificate", "x"), &image, &reg);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("signature.certificates.roots[0]"), "{err}");
}

/// `policy test` of a pod with `spec`, in `dir`: exit code, the denial's message (or for an
/// admission its supply-chain audit annotation), stderr.
fn policy_test(dir: &Path, policies: &Path, spec: Value, extra: &[&str]) -> (i32, String, String) {
    let pod = dir.join("pod.json");
    let manifest = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"}, "spec": spec});
    std::fs::write(&pod, manifest.to_string()).unwrap();
    let out = bin()
        .args(["policy", "test", "--policies"])
        .arg(policies)
        .arg("--manifest")
        .arg(&pod)
        .args(extra)
        .output()
        .unwrap();
    let stdout: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let message = stdout
        .pointer("/response/status/message")
        .or_else(|| stdout.pointer("/response/auditAnnotations/supply-chain"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    (
        out.status.code().unwrap_or(-1),
        message,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `policy test` of a pod running `image` with a pod-level `securityContext`, decided from
/// `report`, at `now`: exit code and message.
fn decide_config(
    dir: &Path,
    policies: &Path,
    image: &str,
    security_context: Value,
    report: &Path,
    now: &str,
) -> (i32, String) {
    let spec = json!({"securityContext": security_context,
                      "containers": [{"name": "c", "image": image}]});
    let report = report.display().to_string();
    let (rc, message, _) = policy_test(dir, policies, spec, &["--results", &report, "--now", now]);
    (rc, message)
}

#[test]
fn image_config_and_feed_age_rules_read_the_real_image() {
    let (Some(fx), Some(td)) = (fixtures(), common::testdata()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Two images made from the Debian fixture with umoci: one as root exposing ssh with a
    // password in its environment, one as user 1000.
    let layout = d.join("oci");
    let ok = Command::new("cp")
        .arg("-r")
        .arg(fx.join("oci"))
        .arg(&layout)
        .status()
        .unwrap();
    assert!(ok.success());
    let base = format!("{}:bookworm", layout.display());
    for (tag, args) in [
        (
            "ssh",
            vec![
                "--config.exposedports",
                "22/tcp",
                "--config.env",
                "DB_PASSWORD=hunter2",
            ],
        ),
        ("app", vec!["--config.user", "1000"]),
    ] {
        let mut umoci = Command::new("umoci");
        umoci
            .args(["config", "--image", &base, "--tag", tag])
            .args(args);
        run_in(umoci, d, &[]);
    }
    let db = d.join("vuln.db").display().to_string();
    let pypi = td.join("advisories/pypi").display().to_string();
    run_in(bin(), d, &["db", "import", "--db", &db, &pypi]);
    let report = |tag: &str| {
        let target = format!("oci:{}:{tag}", layout.display());
        let out = d.join(format!("report-{tag}.json"));
        let o = out.display().to_string();
        run_in(
            bin(),
            d,
            &["scan", &target, "--db", &db, "--format", "json", "-o", &o],
        );
        (target, out)
    };
    let (ssh, ssh_report) = report("ssh");
    let (app, app_report) = report("app");
    let text = std::fs::read_to_string(&ssh_report).unwrap();
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        r["image"]["config"]["exposed_ports"],
        json!(["22/tcp"]),
        "{}",
        r["image"]
    );
    assert_eq!(
        r["image"]["config"]["env_names"],
        json!(["DB_PASSWORD"]),
        "{}",
        r["image"]
    );
    assert!(!text.contains("hunter2"), "an environment value was kept");

    let policy = |name: &str, criterion: Value| {
        let dir = d.join(format!("pol-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let p = json!({"apiVersion": "containersecurity.portcullis.dev/v1",
            "kind": "ContainerAdmissionPolicy", "metadata": {"name": name},
            "spec": {"rules": [criterion, {"action": "Allow"}]}});
        std::fs::write(dir.join("p.json"), p.to_string()).unwrap();
        dir
    };
    let now = portcullis_core::format_time(time::OffsetDateTime::now_utc());
    let none = json!({});
    let root = policy(
        "no-root",
        json!({"action": "Reject", "imageConfig": {"runAsRoot": true}}),
    );
    let (rc, msg) = decide_config(d, &root, &ssh, none.clone(), &ssh_report, &now);
    assert_eq!(rc, 1, "{msg}");
    assert!(msg.contains("runs as root (config User \"\")"), "{msg}");
    // The pod's securityContext decides over the config; a non-root config user passes.
    let (rc, msg) = decide_config(
        d,
        &root,
        &ssh,
        json!({"runAsUser": 1000}),
        &ssh_report,
        &now,
    );
    assert_eq!(rc, 0, "{msg}");
    let (rc, msg) = decide_config(d, &root, &app, none.clone(), &app_report, &now);
    assert_eq!(rc, 0, "{msg}");
    let (rc, msg) = decide_config(d, &root, &app, json!({"runAsUser": 0}), &app_report, &now);
    assert_eq!(rc, 1, "{msg}");

    let ports = policy(
        "no-ssh",
        json!({"action": "Reject", "imageConfig": {"exposedPorts": {"operator": "IsOneOf", "values": ["22"]}}}),
    );
    let (rc, msg) = decide_config(d, &ports, &ssh, none.clone(), &ssh_report, &now);
    assert_eq!(rc, 1, "{msg}");
    assert!(msg.contains("exposes [22/tcp]"), "{msg}");
    assert_eq!(
        decide_config(d, &ports, &app, none.clone(), &app_report, &now).0,
        0
    );

    let env = policy(
        "no-secrets-in-env",
        json!({"action": "Reject", "imageConfig": {"envNames": {"operator": "IsOneOf", "values": ["(?i)password|secret|token"]}}}),
    );
    let (rc, msg) = decide_config(d, &env, &ssh, none.clone(), &ssh_report, &now);
    assert_eq!(rc, 1, "{msg}");
    assert!(
        msg.contains("DB_PASSWORD") && !msg.contains("hunter2"),
        "{msg}"
    );

    // The DB was just built: fresh today, stale a month from now.
    let stale = policy(
        "stale-feeds",
        json!({"action": "Reject", "feedAge": {"operator": "gt", "duration": "7d"}}),
    );
    assert_eq!(
        decide_config(d, &stale, &app, none.clone(), &app_report, &now).0,
        0
    );
    let later =
        portcullis_core::format_time(time::OffsetDateTime::now_utc() + time::Duration::days(30));
    let (rc, msg) = decide_config(d, &stale, &app, none, &app_report, &later);
    assert_eq!(rc, 1, "{msg}");
    assert!(
        msg.contains("feedAge gt 7d:") && msg.contains("30 days ago"),
        "{msg}"
    );
}
