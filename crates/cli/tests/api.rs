//! The assurance API of `serve` (`--api-listen`), on both store backends: tokens and scopes, CI
//! pushes from `scan --push` over verified TLS, the images list in JSON and CSV, exceptions, the
//! OpenAPI document, and the limit on failed attempts.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

fn api_end_to_end(store: &str, dir: &Path) {
    let Some((db, reg)) = pypi_db_and_registry(dir) else {
        return;
    };
    let (_serve, port) = start(dir, &db, store, &reg, &[]);
    let (push, read, write) = (
        token(store, "push"),
        token(store, "read"),
        token(store, "write"),
    );

    // No token, a forged one: 401; a read token writing, a push token reading: 403.
    assert_eq!(call(port, "GET", "/api/v1/images", None, None).0, 401);
    let last = if read.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &read[..read.len() - 1]);
    let (code, body) = call(port, "GET", "/api/v1/images", Some(&forged), None);
    assert_eq!(code, 401, "{body}");
    let exception = r#"{"id":"CVE-2020-0001","scope":"any","justification":"accepted in review"}"#;
    assert_eq!(
        call(
            port,
            "POST",
            "/api/v1/exceptions",
            Some(&read),
            Some(exception)
        )
        .0,
        403
    );
    assert_eq!(
        call(port, "GET", "/api/v1/images", Some(&push), None).0,
        403
    );

    // A CI scan pushed with the push token, verified against serve's own CA.
    let ca = dir.join("cache/tls/ca.crt");
    let scan = |ca: &Path, extra: &[&str]| scan_pushing(&reg, "lang", &db, port, &push, ca, extra);
    let scanned = scan(&ca, &["--push-label", "pipeline=build-42"]);
    let stderr = String::from_utf8_lossy(&scanned.stderr);
    assert!(scanned.status.success(), "{stderr}");
    assert!(
        stderr.contains("pushed to") && stderr.contains("status Fail"),
        "{stderr}"
    );
    assert!(!stderr.contains(&push), "the token is never printed");

    // Listed with its status and source, as JSON and as CSV.
    let (code, body) = call(port, "GET", "/api/v1/images", Some(&read), None);
    assert_eq!(code, 200, "{body}");
    let page: Value = serde_json::from_str(&body).expect("json");
    let image = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["repository"] == "portcullis/debian")
        .unwrap_or_else(|| panic!("pushed image not listed: {page}"))
        .clone();
    assert_eq!(image["status"], "Fail", "{image}");
    assert_eq!(image["tags"][0], "lang");
    assert!(
        image["sources"]
            .to_string()
            .contains("ci:pipeline=build-42"),
        "{image}"
    );
    let (_, only_pass) = call(port, "GET", "/api/v1/images?status=Pass", Some(&read), None);
    assert!(!only_pass.contains("portcullis/debian"), "{only_pass}");
    let (code, bad) = call(port, "GET", "/api/v1/images?status=Bad", Some(&read), None);
    assert_eq!(code, 400);
    assert!(bad.contains("\"field\":\"status\""), "{bad}");
    let (code, unknown) = call(port, "GET", "/api/v1/images?colour=red", Some(&read), None);
    assert_eq!(code, 400, "unknown filters are refused: {unknown}");
    let (code, csv) = call(port, "GET", "/api/v1/images?format=csv", Some(&read), None);
    assert_eq!(code, 200);
    assert!(csv.starts_with("registry,repository,digest"), "{csv}");
    assert!(
        csv.lines()
            .any(|l| l.contains("portcullis/debian") && l.contains("Fail")),
        "{csv}"
    );

    // Filters are values, never query text, on either store.
    let (code, none) = call(
        port,
        "GET",
        "/api/v1/images?repository=%27%20OR%201%3D1%20--",
        Some(&read),
        None,
    );
    assert_eq!(code, 200, "{none}");
    assert!(!none.contains("portcullis/debian"), "{none}");

    // Filters on what the service knows of each image, orders and their cursors.
    let listed = |query: &str| -> Value {
        let (code, body) = call(
            port,
            "GET",
            &format!("/api/v1/images?{query}"),
            Some(&read),
            None,
        );
        assert_eq!(code, 200, "{query}: {body}");
        serde_json::from_str(&body).expect("json")
    };
    let has_it = |page: &Value| page.to_string().contains("portcullis/debian");
    assert!(has_it(&listed("cve=CVE-2021-35042")), "by alias");
    assert!(has_it(&listed("cve=pysec-2021-109")), "by id, any case");
    assert!(!has_it(&listed("cve=CVE-1999-0001")));
    assert!(has_it(&listed("fixable=true")));
    assert!(!has_it(&listed("fixable=false")));
    assert!(
        !has_it(&listed("running=true")),
        "nothing runs outside a cluster"
    );
    assert!(has_it(&listed("running=false")));
    assert_eq!(listed("sort=status")["items"][0]["status"], "Fail");
    let (code, body) = call(port, "GET", "/api/v1/images?sort=size", Some(&read), None);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("\"field\":\"sort\""), "{body}");
    let (code, body) = call(
        port,
        "GET",
        "/api/v1/images?sort=last_seen&after=app-1",
        Some(&read),
        None,
    );
    assert_eq!(code, 400, "a name cursor in another order: {body}");

    // One image: every match with its evidence and advisory links, and its status history.
    let digest = image["digest"].as_str().expect("digest").to_string();
    let detail_now = || {
        call(
            port,
            "GET",
            &format!("/api/v1/images/{digest}"),
            Some(&read),
            None,
        )
        .1
    };
    let (code, detail) = call(
        port,
        "GET",
        &format!("/api/v1/images/{digest}"),
        Some(&read),
        None,
    );
    assert_eq!(code, 200, "{detail}");
    let detail: Value = serde_json::from_str(&detail).expect("json");
    let django = detail["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .iter()
        .find(|m| m["id"] == "PYSEC-2021-109")
        .unwrap_or_else(|| panic!("PYSEC-2021-109 not in {}", detail["summary"]))
        .clone();
    assert!(
        django["matched_by"]["layer"]
            .as_str()
            .is_some_and(|l| l.starts_with("sha256:")),
        "{django}"
    );
    assert!(
        django["matched_by"]["location"]
            .as_str()
            .is_some_and(|l| l.contains("Django")),
        "{django}"
    );
    assert!(
        django["links"]
            .to_string()
            .contains("osv.dev/vulnerability/PYSEC-2021-109"),
        "{django}"
    );
    assert_eq!(
        detail["history"][0]["cause"], "first-scan",
        "{}",
        detail["history"]
    );
    assert_eq!(
        call(port, "GET", "/api/v1/images/sha256:00", Some(&read), None).0,
        400
    );
    let unknown = format!("/api/v1/images/sha256:{}", "0".repeat(64));
    assert_eq!(call(port, "GET", &unknown, Some(&read), None).0, 404);

    // Which images have a vulnerability (by alias too), and the top ones.
    let (code, who) = call(
        port,
        "GET",
        "/api/v1/vulnerabilities/CVE-2021-35042",
        Some(&read),
        None,
    );
    assert_eq!(code, 200, "{who}");
    let who: Value = serde_json::from_str(&who).expect("json");
    assert_eq!(who["images"][0]["digest"], digest.as_str(), "{who}");
    assert!(
        who["images"][0]["packages"][0]
            .as_str()
            .is_some_and(|p| p.starts_with("django 3.2")),
        "{who}"
    );
    assert!(who["links"].to_string().contains("nvd.nist.gov"), "{who}");
    let (_, nobody) = call(
        port,
        "GET",
        "/api/v1/vulnerabilities/CVE-1999-0001",
        Some(&read),
        None,
    );
    assert!(nobody.contains("\"images\":[]"), "{nobody}");
    let (code, top) = call(
        port,
        "GET",
        "/api/v1/vulnerabilities?top=3",
        Some(&read),
        None,
    );
    assert_eq!(code, 200, "{top}");
    assert_eq!(
        serde_json::from_str::<Value>(&top)
            .expect("json")
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    // Every list also answers as CSV.
    let (code, top_csv) = call(
        port,
        "GET",
        "/api/v1/vulnerabilities?top=3&format=csv",
        Some(&read),
        None,
    );
    assert_eq!(code, 200, "{top_csv}");
    let lines: Vec<&str> = top_csv.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three rows: {top_csv}");
    assert!(
        lines[0].split(',').any(|c| c == "running_pods"),
        "{top_csv}"
    );

    // Alert rules: checked when made (a bad query names its position), evaluated on request.
    let (code, body) = call(
        port,
        "POST",
        "/api/v1/alert-rules",
        Some(&write),
        Some(r#"{"name":"broken","query":"result = Fail AND"}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("\"field\":\"query\"") && body.contains("character 17"),
        "{body}"
    );
    let post_rule = |token: &str, rule: &str| {
        call(port, "POST", "/api/v1/alert-rules", Some(token), Some(rule)).0
    };
    let failing = r#"{"name":"failing","severity":"high","query":"result = Fail AND cve = CVE-2021-35042","condition":"gte","threshold":1}"#;
    assert_eq!(post_rule(&read, failing), 403);
    assert_eq!(post_rule(&write, failing), 201);
    assert_eq!(post_rule(&write, failing), 409);
    let worst = r#"{"name":"worst","metric":"max","field":"max_cvss_score","condition":"gte","threshold":8,"aggregateBy":["repository"]}"#;
    assert_eq!(post_rule(&write, worst), 201);
    let (code, fired) = call(port, "GET", "/api/v1/alerts", Some(&read), None);
    assert_eq!(code, 200, "{fired}");
    let fired: Value = serde_json::from_str(&fired).expect("json");
    let of = |rule: &str| -> Vec<Value> {
        fired
            .as_array()
            .expect("alerts")
            .iter()
            .filter(|a| a["rule"] == rule)
            .cloned()
            .collect()
    };
    assert_eq!(of("failing").len(), 1, "{fired}");
    assert_eq!(of("failing")[0]["severity"], "high");
    let worst_fired = of("worst");
    assert!(
        worst_fired
            .iter()
            .any(|a| a["group"]["repository"] == "portcullis/debian"
                && a["value"].as_f64() == detail["summary"]["max_cvss"].as_f64()),
        "{fired} / {}",
        detail["summary"]
    );
    assert_eq!(
        call(
            port,
            "DELETE",
            "/api/v1/alert-rules/worst",
            Some(&write),
            None
        )
        .0,
        204
    );
    assert_eq!(
        call(
            port,
            "DELETE",
            "/api/v1/alert-rules/worst",
            Some(&write),
            None
        )
        .0,
        404
    );
    let (_, fired) = call(port, "GET", "/api/v1/alerts", Some(&read), None);
    assert!(!fired.contains("\"worst\""), "{fired}");

    // The running images and the decisions (none outside a cluster, but answered), the export.
    let (code, running) = call(port, "GET", "/api/v1/running", Some(&read), None);
    assert_eq!((code, running.as_str()), (200, "[]"));
    let (code, decisions) = call(
        port,
        "GET",
        "/api/v1/decisions?result=rejected",
        Some(&read),
        None,
    );
    assert_eq!((code, decisions.as_str()), (200, "[]"));
    let (code, export) = call(port, "GET", "/api/v1/export", Some(&read), None);
    assert_eq!(code, 200);
    assert!(
        export.starts_with("image,digest,status,vulnerability"),
        "{export}"
    );
    assert!(
        export
            .lines()
            .any(|l| l.contains("PYSEC-2021-109") && l.contains("django")),
        "{export}"
    );

    // Thresholds: read by a read token, changed by a write token only, checked.
    let t = r#"{"fail":9.0}"#;
    assert_eq!(
        call(
            port,
            "PUT",
            "/api/v1/settings/thresholds",
            Some(&read),
            Some(t)
        )
        .0,
        403
    );
    let (code, body) = call(
        port,
        "PUT",
        "/api/v1/settings/thresholds",
        Some(&write),
        Some(r#"{"warn":9.5}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("\"field\":\"warn\""), "{body}");
    let (code, body) = call(
        port,
        "PUT",
        "/api/v1/settings/thresholds",
        Some(&write),
        Some(t),
    );
    assert_eq!(code, 200, "{body}");
    // In force within seconds: serve follows the stored settings.
    let applied = eventually(|| {
        let (_, now) = call(
            port,
            "GET",
            "/api/v1/settings/thresholds",
            Some(&read),
            None,
        );
        now.contains("\"fail\":9.0") && now.contains("\"warn\":4.0")
    });
    assert!(applied, "the new thresholds did not come into force");

    // Exceptions: a write token creates one; it is listed.
    let (code, body) = call(
        port,
        "POST",
        "/api/v1/exceptions",
        Some(&write),
        Some(exception),
    );
    assert_eq!(code, 201, "{body}");
    let (_, listed) = call(port, "GET", "/api/v1/exceptions", Some(&read), None);
    assert!(listed.contains("CVE-2020-0001"), "{listed}");
    let (code, body) = call(
        port,
        "POST",
        "/api/v1/exceptions",
        Some(&write),
        Some(r#"{"id":"CVE-1","scope":"sometimes"}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("scope"), "{body}");

    // Calico's CSV: exported, and imported whole or not at all.
    let (code, csv) = call(
        port,
        "GET",
        "/api/v1/exceptions?format=csv",
        Some(&read),
        None,
    );
    assert_eq!(code, 200);
    assert!(
        csv.starts_with("CVE,Registry,Repository,Tags,Justification,Scope"),
        "{csv}"
    );
    assert!(csv.contains("CVE-2020-0001"), "{csv}");
    let good = "CVE,Registry,Repository,Tags,Justification,Scope\nCVE-2020-0002,reg.local,app,,vendor says so,repository\n";
    let bad = "CVE,Registry,Repository,Tags,Justification,Scope\nCVE-2020-0003,,,,,any\nCVE-2020-0004,,,,,galaxy\n";
    let import = |body: &str, token: &str| {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-ks",
            "-X",
            "POST",
            "-w",
            "\n%{http_code}",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .args(["-H", "Content-Type: text/csv", "--data-binary", body])
        .arg(format!("https://127.0.0.1:{port}/api/v1/exceptions/import"));
        let out = cmd.output().expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let refused = import(bad, &write);
    assert!(
        refused.ends_with("400") && refused.contains("galaxy"),
        "{refused}"
    );
    let (_, now) = call(port, "GET", "/api/v1/exceptions", Some(&read), None);
    assert!(
        !now.contains("CVE-2020-0003"),
        "half an import applied: {now}"
    );
    assert!(import(good, &read).ends_with("403"));
    let added = import(good, &write);
    assert!(
        added.ends_with("200") && added.contains("\"added\":1"),
        "{added}"
    );

    // An exception made through the API is in force within seconds: the match is marked.
    let silence = r#"{"id":"CVE-2021-35042","scope":"any","justification":"not reachable"}"#;
    assert_eq!(
        call(
            port,
            "POST",
            "/api/v1/exceptions",
            Some(&write),
            Some(silence)
        )
        .0,
        201
    );
    let marked = eventually(|| {
        let d = detail_now();
        let d: Value = serde_json::from_str(&d).unwrap_or_default();
        d["vulnerabilities"]
            .as_array()
            .and_then(|v| v.iter().find(|m| m["id"] == "PYSEC-2021-109"))
            .is_some_and(|m| m["ignored"]["justification"] == "not reachable")
    });
    assert!(marked, "the API's exception did not come into force");
    let (code, body) = call(
        port,
        "DELETE",
        "/api/v1/exceptions?id=CVE-2020-0001",
        Some(&write),
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        call(
            port,
            "DELETE",
            "/api/v1/exceptions?id=CVE-2020-0001",
            Some(&write),
            None
        )
        .0,
        404
    );

    // Who made an exception is the service's to say; one is changed in place, a second of the
    // same content is refused.
    let (_, listed) = call(port, "GET", "/api/v1/exceptions", Some(&read), None);
    let listed: Value = serde_json::from_str(&listed).expect("json");
    let made = listed
        .as_array()
        .and_then(|l| l.iter().find(|e| e["id"] == "CVE-2021-35042"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(made["created_by"], "token:write", "{made}");
    assert!(made["created"].as_str().is_some(), "{made}");
    assert_eq!(
        call(
            port,
            "POST",
            "/api/v1/exceptions",
            Some(&write),
            Some(silence)
        )
        .0,
        409
    );
    let (code, body) = call(
        port,
        "PATCH",
        "/api/v1/exceptions?id=CVE-2021-35042",
        Some(&write),
        Some(r#"{"justification":"reviewed again","expires":"2099-01-01"}"#),
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = call(
        port,
        "PATCH",
        "/api/v1/exceptions?id=CVE-2021-35042",
        Some(&write),
        Some(r#"{"expires":"next week"}"#),
    );
    assert!(
        code == 400 && body.contains("\"field\":\"expires\""),
        "{body}"
    );
    assert_eq!(
        call(
            port,
            "PATCH",
            "/api/v1/exceptions?id=CVE-1999-0001",
            Some(&write),
            Some(r#"{"justification":"x"}"#)
        )
        .0,
        404
    );
    let relabelled = eventually(|| {
        let d = detail_now();
        d.contains("reviewed again")
    });
    assert!(
        relabelled,
        "the changed justification did not come into force"
    );

    // OpenVEX: a not_affected statement for one package of the image silences that match only,
    // within seconds; a document that names no product is refused whole; removed, it counts
    // again.
    let other = detail["vulnerabilities"]
        .as_array()
        .expect("vulnerabilities")
        .iter()
        .find(|m| m["id"] != "PYSEC-2021-109" && m["ignored"].is_null())
        .unwrap_or_else(|| panic!("a second vulnerability in {detail}"))
        .clone();
    let (vuln, purl) = (
        other["id"].as_str().expect("id"),
        other["package"]["purl"].as_str().expect("purl"),
    );
    let vex = serde_json::json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://corp.example/vex/app-1",
        "author": "security team",
        "timestamp": "2026-01-01T00:00:00Z",
        "version": 1,
        "statements": [{
            "vulnerability": {"name": vuln},
            "products": [{"@id": purl}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path"
        }]
    })
    .to_string();
    let unscoped = vex.replace(&format!(r#""products":[{{"@id":"{purl}"}}],"#), "");
    assert_ne!(unscoped, vex);
    let (code, body) = call(port, "POST", "/api/v1/vex", Some(&write), Some(&unscoped));
    assert!(code == 400 && body.contains("names no product"), "{body}");
    assert_eq!(
        call(port, "POST", "/api/v1/vex", Some(&read), Some(&vex)).0,
        403
    );
    let (code, body) = call(port, "POST", "/api/v1/vex", Some(&write), Some(&vex));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"not_affected\":1"), "{body}");
    let vex_state = |want_ignored: bool| {
        eventually(|| {
            let d: Value = serde_json::from_str(&detail_now()).unwrap_or_default();
            d["vulnerabilities"].as_array().is_some_and(|v| {
                v.iter()
                    .filter(|m| m["id"] == vuln && m["package"]["purl"] == purl)
                    .all(|m| m["ignored"].is_null() != want_ignored)
            })
        })
    };
    assert!(vex_state(true), "the VEX statement did not come into force");
    let (_, docs) = call(port, "GET", "/api/v1/vex", Some(&read), None);
    assert!(docs.contains("security team"), "{docs}");
    assert_eq!(
        call(
            port,
            "DELETE",
            "/api/v1/vex?id=https://corp.example/vex/app-1",
            Some(&write),
            None
        )
        .0,
        204
    );
    assert!(vex_state(false), "the removed VEX still applies");

    // Every change above is in the settings history, newest first, with who made it.
    let (code, history) = call(
        port,
        "GET",
        "/api/v1/settings/history?limit=50",
        Some(&read),
        None,
    );
    assert_eq!(code, 200, "{history}");
    let history: Value = serde_json::from_str(&history).expect("json");
    let entries: Vec<(String, String)> = history
        .as_array()
        .expect("list")
        .iter()
        .map(|c| {
            assert_eq!(c["actor"], "token:write", "{c}");
            (
                c["setting"].as_str().unwrap_or_default().to_string(),
                c["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = entries
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("vex", "delete"),
            ("vex", "import"),
            ("exceptions", "update"),
            ("exceptions", "delete"),
            ("exceptions", "create"),
            ("exceptions", "import"),
            ("exceptions", "create"),
            ("thresholds", "set"),
            ("alert-rules", "delete"),
            ("alert-rules", "create"),
            ("alert-rules", "create"),
        ],
        "{history}"
    );
    let thresholds = &history[7];
    assert_eq!(thresholds["before"]["fail"], 7.0, "{thresholds}");
    assert_eq!(thresholds["after"]["fail"], 9.0, "{thresholds}");
    assert_eq!(history[2]["before"]["justification"], "not reachable");
    assert_eq!(
        call(
            port,
            "GET",
            "/api/v1/settings/history?limit=0",
            Some(&read),
            None
        )
        .0,
        400
    );
    let (_, history_csv) = call(
        port,
        "GET",
        "/api/v1/settings/history?format=csv",
        Some(&read),
        None,
    );
    assert!(
        history_csv.starts_with("action,actor,after,before,setting,time")
            && history_csv.contains("token:write"),
        "{history_csv}"
    );

    // The dashboard's login: a form post answers with a redirect to a path here only, and the
    // session cookie; the cookie reads, and changes only with the CSRF header.
    let curl = |args: &[&str]| -> String {
        let out = Command::new("curl")
            .args(["-ks", "-D", "-", "-o", "/dev/null"])
            .args(args)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let url = |path: &str| format!("https://127.0.0.1:{port}{path}");
    let head = curl(&[
        "--data-urlencode",
        &format!("token={write}"),
        "--data-urlencode",
        "next=//evil.example/x",
        &url("/login"),
    ]);
    assert!(head.starts_with("HTTP/") && head.contains(" 303"), "{head}");
    assert!(
        head.lines().any(|l| l.eq_ignore_ascii_case("location: /")),
        "no redirect off the site: {head}"
    );
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("{head}"));
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let session = cookie.split(';').next().expect("cookie");
    let bad = curl(&["--data-urlencode", "token=pcl_x_y", &url("/login")]);
    assert!(bad.contains("location: /login?error=invalid"), "{bad}");
    assert!(
        curl(&["-b", session, &url("/api/v1/whoami")]).contains(" 200"),
        "the cookie reads"
    );
    let post = |extra: &[&str]| {
        let mut a = vec!["-b", session, "-H", "Content-Type: application/json"];
        a.extend(extra);
        a.extend(["--data", r#"{"id":"CVE-2020-0009","scope":"any"}"#]);
        let target = url("/api/v1/exceptions");
        a.push(&target);
        curl(&a).lines().next().unwrap_or_default().to_string()
    };
    assert!(post(&[]).contains(" 403"), "no CSRF header");
    assert!(
        post(&[
            "-H",
            "X-Portcullis-CSRF: 1",
            "-H",
            "Origin: https://evil.example"
        ])
        .contains(" 403"),
        "another site's origin"
    );
    assert!(
        post(&["-H", "X-Portcullis-CSRF: 1"]).contains(" 201"),
        "the dashboard's own change"
    );

    // The OpenAPI document, generated from the types.
    let (code, doc) = call(port, "GET", "/api/v1/openapi.json", Some(&read), None);
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_str(&doc).expect("openapi json");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{doc}"
    );
    assert!(doc["paths"].get("/api/v1/images").is_some(), "{doc}");
    for path in [
        "/api/v1/push",
        "/api/v1/images/{digest}",
        "/api/v1/vulnerabilities/{id}",
        "/api/v1/export",
        "/api/v1/vex",
        "/api/v1/settings/history",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} not in {doc}");
    }

    // A revoked token is refused from then on.
    let id = read["pcl_".len()..].split('_').next().expect("id");
    let revoked = run(&["token", "revoke", id, "--store", store]);
    assert!(revoked.status.success());
    assert_eq!(
        call(port, "GET", "/api/v1/images", Some(&read), None).0,
        401
    );
    let listed = run(&["token", "list", "--json", "--store", store]);
    let tokens: Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(tokens.as_array().map(Vec::len), Some(3));
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains(&write[12..]),
        "no secret listed"
    );

    // A push that cannot be verified fails on its own exit code, after the report.
    let other_ca = dir.join("other");
    let certs = run(&["certs", "--out", other_ca.to_str().expect("utf-8")]);
    assert!(certs.status.success());
    let unverified = scan(&other_ca.join("ca.crt"), &[]);
    assert_eq!(unverified.status.code(), Some(3));
    assert!(
        serde_json::from_slice::<Value>(&unverified.stdout).is_ok(),
        "the report is still written"
    );
    assert!(
        String::from_utf8_lossy(&unverified.stderr).contains("push to"),
        "{}",
        String::from_utf8_lossy(&unverified.stderr)
    );

    // Failed attempts from one address are limited.
    let codes: Vec<u16> = (0..=portcullis_api::MAX_FAILURES)
        .map(|_| call(port, "GET", "/api/v1/images", Some("pcl_nope_nope"), None).0)
        .collect();
    // Those above counted too: the limit is reached within this many, and then holds for every
    // request from this address, a good token's too, until the window passes.
    let first = codes.iter().position(|c| *c == 429).expect("limited");
    assert!(codes[..first].iter().all(|c| *c == 401), "{codes:?}");
    assert!(codes[first..].iter().all(|c| *c == 429), "{codes:?}");
    assert_eq!(
        call(port, "GET", "/api/v1/images", Some(&write), None).0,
        429
    );
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
    for t in [&push, &read, &write] {
        assert!(!log.contains(t.as_str()), "a token in the log");
    }
}

#[test]
fn api_on_sqlite() {
    on_sqlite(api_end_to_end);
}

#[test]
fn api_on_postgres() {
    on_postgres("api", api_end_to_end);
}

/// Runs `check` over a new SQLite store in a temporary directory.
fn on_sqlite(check: fn(&str, &Path)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite:{}", dir.path().join("store.db").display());
    check(&store, dir.path());
}

/// Runs `check` over a fresh PostgreSQL database named after `name`.
fn on_postgres(name: &str, check: fn(&str, &Path)) {
    let Some(store) = portcullis_test_support::postgres::fresh_database(name) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    check(&store, dir.path());
}

/// Requests a receiver got: headers and body.
type Requests = std::sync::Arc<parking_lot::Mutex<Vec<(String, Vec<u8>)>>>;

/// A webhook receiver on 127.0.0.1: records each request's headers and body; answers the first
/// with 500 (so the sender must retry), the rest with 200.
struct Receiver {
    port: u16,
    got: Requests,
}

impl Receiver {
    fn start() -> Receiver {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let got: Requests = Requests::default();
        let log = got.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0usize);
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                log.lock().push((head, body));
                let status = if n == 0 {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { port, got }
    }
}

/// Fired alerts are delivered to a real receiver: signed (checked with Python's hmac), retried
/// after a failure, once per cooldown, and listed by the API.
fn alerts_delivered(store: &str, dir: &Path) {
    let Some((db, reg)) = pypi_db_and_registry(dir) else {
        return;
    };
    let receiver = Receiver::start();
    let secret = dir.join("secret");
    std::fs::write(&secret, "s3cret-for-hooks\n").expect("secret");
    let hook = format!("http://127.0.0.1:{}/hook", receiver.port);
    let (_serve, port) = start(
        dir,
        &db,
        store,
        &reg,
        &[
            "--alert-interval",
            "1s",
            "--alert-webhook",
            &hook,
            "--alert-webhook-secret-file",
            secret.to_str().expect("utf-8"),
        ],
    );
    let (push, write, read) = (
        token(store, "push"),
        token(store, "write"),
        token(store, "read"),
    );
    let pushed = scan_pushing(
        &reg,
        "lang",
        &db,
        port,
        &push,
        &dir.join("cache/tls/ca.crt"),
        &[],
    );
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let rule = r#"{"name":"fails","severity":"high","description":"failing images","query":"result = Fail"}"#;
    assert_eq!(
        call(
            port,
            "POST",
            "/api/v1/alert-rules",
            Some(&write),
            Some(rule)
        )
        .0,
        201
    );
    // Tried, refused with 500, retried a second later and delivered.
    let delivered = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        receiver.got.lock().len() >= 2
    });
    assert!(delivered, "{:?}", receiver.got.lock().len());
    // Within the cooldown, not again.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let got = receiver.got.lock().clone();
    assert_eq!(
        got.len(),
        2,
        "delivered once (one retry), then held back by the cooldown"
    );
    for (head, body) in &got {
        let alert: Value = serde_json::from_slice(body).expect("json alert");
        assert_eq!(alert["rule"], "fails");
        assert_eq!(alert["severity"], "high");
        let signature = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("x-portcullis-signature: ")
                    .or_else(|| l.strip_prefix("X-Portcullis-Signature: "))
            })
            .expect("signature header")
            .trim()
            .to_string();
        let expected = Command::new("python3")
            .args([
                "-c",
                "import hmac,hashlib,sys; print('sha256=' + hmac.new(b's3cret-for-hooks', sys.stdin.buffer.read(), hashlib.sha256).hexdigest())",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write as _;
                c.stdin.take().expect("stdin").write_all(body)?;
                c.wait_with_output()
            })
            .expect("python3");
        assert_eq!(signature, String::from_utf8_lossy(&expected.stdout).trim());
    }
    let (code, fired) = call(port, "GET", "/api/v1/alerts/fired", Some(&read), None);
    assert_eq!(code, 200, "{fired}");
    let fired: Value = serde_json::from_str(&fired).expect("json");
    assert_eq!(fired.as_array().map(Vec::len), Some(1), "{fired}");
    assert!(
        fired[0]["outcome"]
            .to_string()
            .contains("webhook: delivered"),
        "{fired}"
    );
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
    assert!(
        log.contains("alert fired") && !log.contains("s3cret"),
        "{log}"
    );
}

#[test]
fn alerts_on_sqlite() {
    on_sqlite(alerts_delivered);
}

#[test]
fn alerts_on_postgres() {
    on_postgres("alerts", alerts_delivered);
}

/// The built-in alert: a vulnerability DB update that turns a running image's result to Fail
/// fires `db-update-fail` for its workload, delivered like any other alert. The image is pushed
/// while the service's DB has Debian data only (not Fail), reported running in a workload, and
/// then the PyPA advisories come in with an update.
fn db_update_fail_alerts(store: &str, dir: &Path) {
    let (Some(td), Some((db, reg))) = (testdata(), pypi_db_and_registry(dir)) else {
        return;
    };
    let feeds = portcullis_test_support::feeds::Feeds::new(&td, dir);
    let receiver = Receiver::start();
    let hook = format!("http://127.0.0.1:{}/hook", receiver.port);
    let mut extra: Vec<String> = feeds
        .args("2s")
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    extra.extend(["--alert-interval", "1s", "--alert-webhook", &hook].map(String::from));
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (_serve, port) = start(dir, &dir.join("served.db"), store, &reg, &extra);
    let push = token(store, "push");
    let read = token(store, "read");
    // The service's first DB comes from the feeds at start; until then a push is refused.
    let mut result = None;
    for _ in 0..100 {
        let pushed = scan_pushing(
            &reg,
            "lang",
            &db,
            port,
            &push,
            &dir.join("cache/tls/ca.crt"),
            &[],
        );
        if pushed.status.success() {
            result = Some(String::from_utf8_lossy(&pushed.stderr).into_owned());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let said = result.expect("the push never succeeded");
    assert!(!said.contains("status Fail"), "Debian data only: {said}");
    let (_, images) = call(port, "GET", "/api/v1/images", Some(&read), None);
    let images: Value = serde_json::from_str(&images).expect("json");
    let digest = images["items"][0]["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("{images}"))
        .to_string();
    // It runs in a cluster, as the runtime watch would record.
    running_in_a_workload(store, &format!("{reg}/portcullis/debian:lang"), &digest);
    feeds.add_pypi();
    // Up to a minute: under a loaded CI machine the DB update, rematch and alert pass take a while.
    let alert = (0..300).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        receiver.got.lock().iter().find_map(|(_, body)| {
            let a: Value = serde_json::from_slice(body).ok()?;
            (a["rule"] == "db-update-fail").then_some(a)
        })
    });
    let alert = alert.unwrap_or_else(|| {
        panic!(
            "no db-update-fail alert: {}",
            std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
        )
    });
    assert_eq!(alert["group"]["namespace"], "shop", "{alert}");
    assert_eq!(alert["group"]["workload"], "Deployment/web", "{alert}");
    assert_eq!(alert["group"]["digest"], digest.as_str(), "{alert}");
    assert_eq!(alert["records"], 2, "pods running it: {alert}");
    // Listed once its delivery is done (the receiver refuses the first try).
    let listed = eventually(|| {
        let (_, fired) = call(port, "GET", "/api/v1/alerts/fired", Some(&read), None);
        fired.contains("db-update-fail") && fired.contains("webhook: delivered")
    });
    assert!(listed, "the delivery is not listed");
}

#[test]
fn db_update_fail_alert_on_sqlite() {
    on_sqlite(db_update_fail_alerts);
}

#[test]
fn db_update_fail_alert_on_postgres() {
    on_postgres("dbfail", db_update_fail_alerts);
}
