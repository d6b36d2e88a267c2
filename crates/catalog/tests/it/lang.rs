//! Language extractors over osv-scalibr's lockfile fixtures (expected values read off the
//! fixtures) and over small fixtures of our own where the shared folder has none.

use std::io::Write;

use portcullis_catalog::Extractor;
use portcullis_catalog::lang::{
    CargoLock, ComposerInstalled, ComposerLock, DotnetDepsJson, GemfileLock, JavaArchive,
    NpmPackageLock, PnpmLock, PythonDistInfo, YarnLock,
};
use portcullis_core::Ecosystem;

use crate::common::{extract, nv, own, scalibr};

#[test]
fn python_dist_info_and_egg_info() {
    let path = "/usr/lib/python3/dist-packages/Django-3.2.dist-info/METADATA";
    let pkgs = extract(
        &PythonDistInfo,
        path,
        &own("python/Django-3.2.dist-info-METADATA"),
        None,
    )
    .unwrap();
    assert_eq!(nv(&pkgs), ["django 3.2"]);
    assert_eq!(pkgs[0].purl, "pkg:pypi/django@3.2");
    assert_eq!(pkgs[0].ecosystem, Ecosystem::PyPI);
    assert_eq!(pkgs[0].licenses, vec!["BSD-3-Clause".to_owned()]);

    let path = "/usr/lib/python3/dist-packages/zope.interface-5.4.0.egg-info/PKG-INFO";
    let pkgs = extract(
        &PythonDistInfo,
        path,
        &own("python/zope.interface-PKG-INFO"),
        None,
    )
    .unwrap();
    assert_eq!(nv(&pkgs), ["zope-interface 5.4.0"]);

    // An egg-info that is a file, not a directory; version kept verbatim.
    let path = "/usr/lib/python3/dist-packages/typing_extensions-4.12.2rc1.egg-info";
    let pkgs = extract(
        &PythonDistInfo,
        path,
        &own("python/expression-METADATA"),
        None,
    )
    .unwrap();
    assert_eq!(nv(&pkgs), ["typing-extensions 4.12.2rc1"]);
    assert_eq!(pkgs[0].licenses, vec!["PSF-2.0".to_owned()]);

    let path = "/site/broken-1.0.dist-info/METADATA";
    let err = extract(
        &PythonDistInfo,
        path,
        &own("python/no-version-METADATA"),
        None,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "/site/broken-1.0.dist-info/METADATA:1: no Version header"
    );
}

const LOCK: &str = "/app/package-lock.json";

fn npm_lock(rel: &str) -> Option<Vec<String>> {
    let content = scalibr(&format!(
        "language/javascript/packagelockjson/testdata/{rel}"
    ))?;
    Some(nv(&extract(&NpmPackageLock, LOCK, &content, None).unwrap()))
}

#[test]
fn package_lock_versions_1_to_3() {
    let Some(v1) = npm_lock("nested-dependencies.v1.json") else {
        return;
    };
    let expected = [
        "postcss 6.0.23",
        "postcss 7.0.16",
        "postcss-calc 7.0.1",
        "supports-color 5.5.0",
        "supports-color 6.1.0",
    ];
    assert_eq!(v1, expected);
    assert_eq!(npm_lock("nested-dependencies.v2.json").unwrap(), expected);
    assert_eq!(
        npm_lock("bundled-dependencies.v3.json").unwrap(),
        ["ansi-regex 6.2.2", "strip-ansi 7.1.2"],
        "semver is dev"
    );
}

#[test]
fn package_lock_aliases_scopes_and_dev() {
    let Some(v1) = npm_lock("alias.v1.json") else {
        return;
    };
    let expected = [
        "@babel/code-frame 7.0.0",
        "string-width 4.2.0",
        "string-width 5.1.2",
    ];
    assert_eq!(v1, expected);
    assert_eq!(npm_lock("alias.v2.json").unwrap(), expected);
    assert_eq!(
        npm_lock("scoped-packages.v1.json").unwrap(),
        ["@babel/code-frame 7.0.0", "wrappy 1.0.2"]
    );
    assert!(npm_lock("one-package-dev.v1.json").unwrap().is_empty());
    assert!(npm_lock("one-package-dev.v2.json").unwrap().is_empty());
    assert_eq!(npm_lock("one-package.v2.json").unwrap(), ["wrappy 1.0.2"]);
    // Optional packages are installed.
    assert_eq!(
        npm_lock("optional-package.v2.json").unwrap(),
        ["supports-color 5.5.0", "wrappy 1.0.2"]
    );
    // Local folders (`file:`), their nested modules outside node_modules/, and dev ones.
    assert!(npm_lock("files.v2.json").unwrap().is_empty());
}

#[test]
fn package_lock_git_and_broken() {
    let Some(v2) = npm_lock("commits.v2.json") else {
        return;
    };
    assert_eq!(
        v2,
        [
            "@segment/analytics.js-integration-facebook-pixel 2.4.1",
            "ansi-styles 1.0.0",
            "postcss-calc 7.0.1"
        ],
        "dev entries and raven-js (no version) are left out"
    );
    let content =
        scalibr("language/javascript/packagelockjson/testdata/scoped-packages.v2.json").unwrap();
    let p = extract(&NpmPackageLock, LOCK, &content, None).unwrap();
    assert_eq!(
        p.iter()
            .find(|p| p.name == "@babel/code-frame")
            .unwrap()
            .purl,
        "pkg:npm/%40babel/code-frame@7.0.0"
    );
    for bad in ["not-json.txt", "null.v2.jsontest"] {
        let content = scalibr(&format!(
            "language/javascript/packagelockjson/testdata/{bad}"
        ))
        .unwrap();
        let err = extract(&NpmPackageLock, LOCK, &content, None).unwrap_err();
        assert!(err.to_string().starts_with(LOCK), "{err}");
    }
    assert!(!NpmPackageLock.required("/app/node_modules/x/package-lock.json"));
    assert!(NpmPackageLock.required("/app/npm-shrinkwrap.json"));
}

fn yarn(rel: &str) -> Option<Vec<String>> {
    let content = scalibr(&format!("language/javascript/yarnlock/testdata/{rel}"))?;
    Some(nv(
        &extract(&YarnLock, "/app/yarn.lock", &content, None).unwrap()
    ))
}

#[test]
fn yarn_v1_and_berry() {
    let Some(one) = yarn("one-package.v1.lock") else {
        return;
    };
    assert_eq!(one.len(), 1);
    assert_eq!(yarn("one-package.v2.lock").unwrap().len(), 1);
    let aliases = [
        "@babel/helper-validator-identifier 7.22.20",
        "ansi-regex 5.0.1",
        "ansi-regex 6.0.1",
    ];
    assert_eq!(yarn("with-aliases.v1.lock").unwrap(), aliases);
    assert_eq!(
        yarn("with-aliases.v2.lock").unwrap(),
        aliases,
        "the workspace root is left out"
    );
    assert_eq!(
        yarn("multiple-versions.v2.lock").unwrap(),
        ["debug 2.6.9", "debug 3.2.7", "debug 4.3.3"]
    );
    assert_eq!(yarn("exclude-root.v2.lock").unwrap(), ["ansi-regex 6.1.0"]);
    assert_eq!(
        yarn("with-quotes.v1.lock").unwrap(),
        ["concat-map 0.0.1", "concat-stream 1.6.2"]
    );
    assert_eq!(
        yarn("no-version.v1.lock").unwrap(),
        ["balanced-match 1.0.2"]
    );
    assert_eq!(
        yarn("files.v1.lock").unwrap(),
        ["etag 1.8.1", "lodash 1.3.1"]
    );
    assert!(yarn("files.v2.lock").unwrap().is_empty());
    assert!(yarn("empty.v1.lock").unwrap().is_empty());
    assert!(yarn("metadata-only.v2.lock").unwrap().is_empty());
    let pre = yarn("with-prerelease.v2.lock").unwrap();
    assert!(
        pre.contains(&"@nicolo-ribaudo/chokidar-2 2.1.8-no-fsevents.3".to_owned()),
        "{pre:?}"
    );
    assert!(pre.contains(&"gensync 1.0.0-beta.2".to_owned()), "{pre:?}");
    assert!(
        !pre.iter().any(|p| p.starts_with("eslint-plugin-jest ")),
        "{pre:?}"
    );
}

#[test]
fn yarn_scoped_snapshot() {
    let Some(content) = scalibr("language/javascript/yarnlock/testdata/scoped-packages.v1.lock")
    else {
        return;
    };
    let pkgs = extract(&YarnLock, "/app/yarn.lock", &content, None).unwrap();
    insta::assert_yaml_snapshot!(pkgs);
}

#[test]
fn yarn_garbage_names_its_line() {
    let err = extract(
        &YarnLock,
        "/app/yarn.lock",
        b"# c\n\nthis is not a lockfile\n",
        None,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "/app/yarn.lock:3: expected 'spec:' block header, found \"this is not a lockfile\""
    );
}

fn pnpm(rel: &str) -> Option<Result<Vec<String>, String>> {
    let content = scalibr(&format!("language/javascript/pnpmlock/testdata/{rel}"))?;
    Some(
        extract(&PnpmLock, "/app/pnpm-lock.yaml", &content, None)
            .map(|p| nv(&p))
            .map_err(|e| e.to_string()),
    )
}

#[test]
fn pnpm_versions_5_to_9() {
    let Some(one) = pnpm("one-package.yaml") else {
        return;
    };
    assert_eq!(one.unwrap(), ["acorn 8.7.0"]);
    assert_eq!(
        pnpm("one-package-v6-lockfile.yaml").unwrap().unwrap(),
        ["acorn 8.7.0"]
    );
    assert_eq!(
        pnpm("one-package.v9.yaml").unwrap().unwrap(),
        ["acorn 8.11.3"]
    );
    assert_eq!(
        pnpm("scoped-packages.yaml").unwrap().unwrap(),
        ["@typescript-eslint/types 5.13.0"]
    );
    assert_eq!(
        pnpm("scoped-packages.v9.yaml").unwrap().unwrap(),
        ["@typescript-eslint/types 5.62.0"]
    );
    assert_eq!(
        pnpm("peer-dependencies.yaml").unwrap().unwrap(),
        ["acorn 8.7.0", "acorn-jsx 5.3.2"]
    );
    assert_eq!(
        pnpm("peer-dependencies.v9.yaml").unwrap().unwrap(),
        ["acorn 8.11.3", "acorn-jsx 5.3.2"]
    );
    assert_eq!(
        pnpm("commits.v9.yaml").unwrap().unwrap(),
        ["ansi-regex 6.0.1", "is-number 7.0.0"]
    );
    assert_eq!(pnpm("invalid-path.yaml").unwrap().unwrap(), ["acorn 8.7.0"]);
}

#[test]
fn pnpm_exotic_keys_and_edges() {
    let Some(exotic) = pnpm("exotic.yaml") else {
        return;
    };
    assert_eq!(
        exotic.unwrap(),
        [
            "@foo/bar 1.0.0",
            "@foo/bar 1.1.0",
            "foo 1.0.0",
            "foo 1.1.0",
            "foo 1.2.0",
            "foo 1.3.0",
            "foo 1.4.0"
        ]
    );
    assert!(
        pnpm("tarball.yaml").unwrap().unwrap().is_empty(),
        "its only package is dev"
    );
    for empty in [
        "empty.yaml",
        "missing-packages.yaml",
        "no-packages.yaml",
        "no-packages.v9.yaml",
    ] {
        assert!(pnpm(empty).unwrap().unwrap().is_empty(), "{empty}");
    }
    let err = pnpm("not-yaml.txt").unwrap().unwrap_err();
    assert!(
        err.starts_with("/app/pnpm-lock.yaml: invalid YAML"),
        "{err}"
    );
}

fn cargo(rel: &str) -> Option<Result<Vec<String>, String>> {
    let content = scalibr(&format!("language/rust/cargolock/testdata/{rel}"))?;
    Some(
        extract(&CargoLock, "/src/Cargo.lock", &content, None)
            .map(|p| nv(&p))
            .map_err(|e| e.to_string()),
    )
}

#[test]
fn cargo_lock() {
    let Some(many) = cargo("many-packages.lock") else {
        return;
    };
    assert_eq!(
        many.unwrap(),
        [
            "aho-corasick 0.7.18",
            "libc 0.2.140",
            "memchr 2.4.1",
            "syn 1.0.109",
            "syn 2.0.15",
            "zstd 0.11.2"
        ]
    );
    assert_eq!(
        cargo("two-packages-with-local.lock").unwrap().unwrap(),
        ["addr2line 0.15.2"]
    );
    assert_eq!(
        cargo("package-with-comments.lock").unwrap().unwrap(),
        ["addr2line 0.15.2", "syn 1.0.73"]
    );
    assert_eq!(
        cargo("package-with-build-string.lock").unwrap().unwrap(),
        ["wasi 0.10.2+wasi-snapshot-preview1"]
    );
    assert_eq!(
        cargo("duplicate.lock").unwrap().unwrap(),
        ["syn 1.0.73", "syn 2.0.0"]
    );
    assert!(cargo("empty.lock").unwrap().unwrap().is_empty());
    assert_eq!(
        cargo("not-toml.txt").unwrap().unwrap_err(),
        "/src/Cargo.lock:1: expected 'key = value', found \"this is not valid toml! (I think)\""
    );
    let content = scalibr("language/rust/cargolock/testdata/one-package.lock").unwrap();
    let p = extract(&CargoLock, "/src/Cargo.lock", &content, None).unwrap();
    assert_eq!(
        (p[0].purl.as_str(), p[0].ecosystem),
        ("pkg:cargo/addr2line@0.15.2", Ecosystem::Cargo)
    );
}

#[test]
fn composer_lock_and_installed() {
    let path = "/var/www/composer.lock";
    let Some(two) = scalibr("language/php/composerlock/testdata/two-packages.json") else {
        return;
    };
    let p = extract(&ComposerLock, path, &two, None).unwrap();
    assert_eq!(nv(&p), ["sentry/sdk 2.0.4"], "packages-dev are left out");
    assert_eq!(p[0].purl, "pkg:composer/sentry/sdk@2.0.4");
    assert_eq!(p[0].licenses, vec!["MIT".to_owned()]);
    let alt = scalibr("language/php/composerlock/testdata/two-packages-alt.json").unwrap();
    assert_eq!(
        nv(&extract(&ComposerLock, path, &alt, None).unwrap()),
        ["sentry/sdk 2.0.4", "theseer/tokenizer 1.1.3"]
    );
    let dup = scalibr("language/php/composerlock/testdata/duplicate-packages.json").unwrap();
    assert_eq!(
        nv(&extract(&ComposerLock, path, &dup, None).unwrap()),
        ["sentry/sdk 2.0.4", "sentry/sdk 2.0.5"]
    );
    let drupal = scalibr("language/php/composerlock/testdata/drupal-packages.json").unwrap();
    assert!(
        !extract(&ComposerLock, path, &drupal, None)
            .unwrap()
            .is_empty()
    );
    for bad in ["not-json.txt", "null.jsontest"] {
        let c = scalibr(&format!("language/php/composerlock/testdata/{bad}")).unwrap();
        assert!(
            extract(&ComposerLock, path, &c, None)
                .unwrap_err()
                .to_string()
                .starts_with(path)
        );
    }

    let path = "/var/www/vendor/composer/installed.json";
    let v1 = extract(
        &ComposerInstalled,
        path,
        &own("php/installed-v1.json"),
        None,
    )
    .unwrap();
    assert_eq!(nv(&v1), ["monolog/monolog 2.3.5", "psr/log 1.1.4"]);
    let v2 = extract(
        &ComposerInstalled,
        path,
        &own("php/installed-v2.json"),
        None,
    )
    .unwrap();
    assert_eq!(
        nv(&v2),
        ["guzzlehttp/guzzle 7.4.1", "phpunit/phpunit 9.5.10"],
        "installed dev packages are on disk"
    );
    assert_eq!(
        v2.iter()
            .find(|p| p.name == "phpunit/phpunit")
            .unwrap()
            .licenses,
        vec!["BSD-3-Clause".to_owned()]
    );
}

fn gemfile(rel: &str) -> Option<Result<Vec<String>, String>> {
    let content = scalibr(&format!("language/ruby/gemfilelock/testdata/{rel}"))?;
    Some(
        extract(&GemfileLock, "/app/Gemfile.lock", &content, None)
            .map(|p| nv(&p))
            .map_err(|e| e.to_string()),
    )
}

#[test]
fn gemfile_lock() {
    let Some(one) = gemfile("one-gem.lock") else {
        return;
    };
    assert_eq!(one.unwrap(), ["ast 2.4.2"]);
    assert_eq!(
        gemfile("source-section-at-end.lock").unwrap().unwrap(),
        ["ast 2.4.2"]
    );
    assert_eq!(
        gemfile("has-git-gem.lock").unwrap().unwrap(),
        [
            "concurrent-ruby 1.1.7",
            "hanami-controller 2.0.0.alpha1",
            "hanami-utils 2.0.0.alpha1",
            "rack 2.2.3",
            "transproc 1.1.1"
        ]
    );
    let local = gemfile("has-local-gem.lock").unwrap().unwrap();
    assert!(
        !local.iter().any(|g| g.starts_with("backbone-on-rails ")),
        "PATH gems are the project's own"
    );
    assert!(
        local.contains(&"nokogiri 1.13.3".to_owned()),
        "platform suffix dropped: {local:?}"
    );
    assert_eq!(local.len(), 29);
    for empty in [
        "no-gem-section.lock",
        "no-spec-section.lock",
        "no-gems.lock",
    ] {
        assert!(gemfile(empty).unwrap().unwrap().is_empty(), "{empty}");
    }
    assert_eq!(
        gemfile("invalid.lock").unwrap().unwrap_err(),
        "/app/Gemfile.lock:4: expected 'name (version)', found \"invalid-name\""
    );
    assert!(!GemfileLock.required("/usr/local/bundle/gems/rack-2.2.3/Gemfile.lock"));
}

#[test]
fn dotnet_deps_json() {
    let path = "/app/TestLibrary.deps.json";
    let Some(valid) = scalibr("language/dotnet/depsjson/testdata/valid") else {
        return;
    };
    let p = extract(&DotnetDepsJson, path, &valid, None).unwrap();
    assert_eq!(
        nv(&p),
        [
            "AWSSDK.Core 3.7.10.6",
            "Microsoft.Extensions.DependencyInjection 6.0.0"
        ],
        "project entries left out"
    );
    assert_eq!(p[0].purl, "pkg:nuget/AWSSDK.Core@3.7.10.6");
    let nameless = scalibr("language/dotnet/depsjson/testdata/nopackagename").unwrap();
    assert_eq!(
        nv(&extract(&DotnetDepsJson, path, &nameless, None).unwrap()),
        ["AWSSDK.Core 3.7.10.6"]
    );
    let empty = scalibr("language/dotnet/depsjson/testdata/empty").unwrap();
    assert!(
        extract(&DotnetDepsJson, path, &empty, None)
            .unwrap()
            .is_empty()
    );
    let invalid = scalibr("language/dotnet/depsjson/testdata/invalid").unwrap();
    let err = extract(&DotnetDepsJson, path, &invalid, None).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/app/TestLibrary.deps.json: invalid JSON"),
        "{err}"
    );
}

/// Builds a zip in memory from (name, content) pairs.
fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(content).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn java_archives_nested() {
    let lang3 = zip(&[(
        "META-INF/maven/org.apache.commons/commons-lang3/pom.properties",
        b"#Generated by Maven\ngroupId=org.apache.commons\nartifactId=commons-lang3\nversion=3.12.0\n",
    )]);
    // No pom.properties: the manifest and the file name are all there is.
    let guava = zip(&[(
        "META-INF/MANIFEST.MF",
        b"Manifest-Version: 1.0\r\nBundle-SymbolicName: com.google.guava\r\n\r\n",
    )]);
    // Nesting deeper than three levels is not opened.
    let level5 = zip(&[(
        "META-INF/maven/deep/five/pom.properties",
        b"groupId=deep\nartifactId=five\nversion=5\n",
    )]);
    let level4 = zip(&[
        (
            "META-INF/maven/deep/four/pom.properties",
            b"groupId=deep\nartifactId=four\nversion=4\n",
        ),
        ("lib/five.jar", &level5),
    ]);
    let level3 = zip(&[
        (
            "META-INF/maven/deep/three/pom.properties",
            b"groupId=deep\nartifactId=three\nversion=3\n",
        ),
        ("lib/four.jar", &level4),
    ]);
    let level2 = zip(&[("lib/three.jar", &level3)]);
    let app = zip(&[
        ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n\r\n"),
        (
            "META-INF/maven/com.example/app/pom.properties",
            b"groupId=com.example\nartifactId=app\nversion=1.0.0\n",
        ),
        ("BOOT-INF/lib/commons-lang3-3.12.0.jar", &lang3),
        ("BOOT-INF/lib/guava-31.1-jre.jar", &guava),
        ("BOOT-INF/lib/not-a-zip.jar", b"garbage"),
        ("BOOT-INF/lib/two.jar", &level2),
    ]);
    let p = extract(&JavaArchive, "/app/app.jar", &app, None).unwrap();
    assert_eq!(
        nv(&p),
        [
            "com.example:app 1.0.0",
            "deep:four 4",
            "deep:three 3",
            "guava 31.1-jre",
            "org.apache.commons:commons-lang3 3.12.0"
        ]
    );
    let lang3 = p
        .iter()
        .find(|p| p.name.ends_with("commons-lang3"))
        .unwrap();
    assert_eq!(
        lang3.purl,
        "pkg:maven/org.apache.commons/commons-lang3@3.12.0"
    );
    assert_eq!(lang3.locations[0].path, "/app/app.jar");

    let err = extract(&JavaArchive, "/app/broken.war", b"PK not really", None).unwrap_err();
    assert!(
        err.to_string().starts_with("/app/broken.war: invalid zip"),
        "{err}"
    );
}
