//! rpm databases made by Debian's `rpm` tool: packages built with `rpmbuild` (headers only, no
//! files) and recorded with `rpm --justdb` in `var/lib/rpm/rpmdb.sqlite` under a root directory,
//! as a RHEL 9, AlmaLinux or Rocky Linux image holds it. No rpm distribution is reachable here;
//! this is how the rpm extractor and matcher meet real headers.

use std::path::Path;
use std::process::Command;

/// One source package to build, with the binary packages made from it.
#[derive(Clone, Copy, Debug)]
pub struct RpmPackage<'a> {
    /// The source package's name, which is also its main binary package's.
    pub name: &'a str,
    /// The epoch, if any.
    pub epoch: Option<u32>,
    /// `VERSION`.
    pub version: &'a str,
    /// `RELEASE` (`31.el9`, `1.module_el8.9.0+3700+efebe9fd`).
    pub release: &'a str,
    /// Further binary packages built from it, by whole name (`zlib-devel`, `libcurl`).
    pub subpackages: &'a [&'a str],
    /// The modularity label of a module build (`nodejs:20:8090020231019152822:a75119d5`).
    pub module: Option<&'a str>,
}

impl<'a> RpmPackage<'a> {
    /// A package without epoch, subpackages or module.
    pub fn new(name: &'a str, version: &'a str, release: &'a str) -> Self {
        RpmPackage {
            name,
            epoch: None,
            version,
            release,
            subpackages: &[],
            module: None,
        }
    }
}

/// Makes `root` an rpm image's root filesystem: `etc/os-release` and an rpm database holding
/// `packages`. `None` (the skip rule) when `rpmbuild` is not installed.
#[track_caller]
pub fn rootfs(root: &Path, os_release: &str, packages: &[RpmPackage<'_>]) -> Option<()> {
    if Command::new("rpmbuild").arg("--version").output().is_err() {
        return crate::missing("rpmbuild (Debian's rpm package; scripts/fixtures installs it)");
    }
    std::fs::create_dir_all(root.join("etc")).expect("mkdir etc");
    std::fs::write(root.join("etc/os-release"), os_release).expect("write os-release");
    let work = tempfile::tempdir().expect("tempdir");
    let top = work.path().join("top");
    for p in packages {
        let mut spec = format!(
            "Name: {}\nVersion: {}\nRelease: {}\nSummary: test\nLicense: MIT\nBuildArch: noarch\n",
            p.name, p.version, p.release
        );
        if let Some(e) = p.epoch {
            spec.push_str(&format!("Epoch: {e}\n"));
        }
        if let Some(m) = p.module {
            spec.push_str(&format!("ModularityLabel: {m}\n"));
        }
        spec.push_str("%description\ntest\n%files\n");
        for sub in p.subpackages {
            let header = format!("-n {sub}");
            spec.push_str(&format!(
                "%package {header}\nSummary: test\n%description {header}\ntest\n%files {header}\n"
            ));
        }
        let spec_path = work.path().join(format!("{}.spec", p.name));
        std::fs::write(&spec_path, spec).expect("write spec");
        run(Command::new("rpmbuild")
            .args(["-bb", "--quiet", "--define"])
            .arg(format!("_topdir {}", top.display()))
            .arg(&spec_path));
    }
    let rpms: Vec<std::path::PathBuf> = match std::fs::read_dir(top.join("RPMS/noarch")) {
        Ok(dir) => dir.map(|e| e.expect("entry").path()).collect(),
        Err(_) => Vec::new(),
    };
    let rpm = |args: &[&str]| {
        let mut c = Command::new("rpm");
        c.arg("--root").arg(root).args(["--dbpath", "/var/lib/rpm"]);
        c.args(args);
        c
    };
    run(&mut rpm(&["--initdb"]));
    if !rpms.is_empty() {
        let mut install = rpm(&[
            "-i",
            "--justdb",
            "--nodeps",
            "--noscripts",
            "--ignorearch",
            "--ignoreos",
        ]);
        install.args(&rpms);
        run(&mut install);
    }
    Some(())
}

fn run(c: &mut Command) {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
