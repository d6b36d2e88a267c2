//! Go build info and cargo-auditable data in executables: real Go binaries checked against
//! `go version -m` (skipped where Go is not installed), and hand-built ELF files for the
//! formats no binary on the machine has (pre-1.18 pointer format, `.dep-v0`).

use std::io::Write;
use std::path::Path;
use std::process::Command;

use portcullis_catalog::lang::golang::read_build_info;
use portcullis_catalog::lang::{CargoAuditable, GoBinary};
use portcullis_catalog::{ExtractInput, Extractor};
use portcullis_core::Ecosystem;

/// `go version -m` as the oracle: (toolchain, [(path, version)] of mod and dep lines with
/// replacements applied).
fn go_version_m(bin: &Path) -> Option<(String, Vec<(String, String)>)> {
    let out = Command::new("go")
        .arg("version")
        .arg("-m")
        .arg(bin)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let mut lines = text.lines();
    let toolchain = lines.next()?.rsplit(' ').next()?.to_owned();
    let mut mods: Vec<(String, String)> = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.trim_start().split('\t').collect();
        match f[0] {
            "mod" | "dep" => mods.push((f[1].to_owned(), f.get(2).unwrap_or(&"").to_string())),
            "=>" => {
                if let Some(last) = mods.last_mut() {
                    *last = (f[1].to_owned(), f.get(2).unwrap_or(&"").to_string());
                }
            }
            _ => {}
        }
    }
    Some((toolchain, mods))
}

fn check_against_go(bin: &Path) {
    let Some((toolchain, mods)) = go_version_m(bin) else {
        return portcullis_test_support::skip(format_args!(
            "`go version -m` for {}",
            bin.display()
        ));
    };
    let data = std::fs::read(bin).unwrap();
    let input = ExtractInput {
        path: "/usr/local/bin/x",
        layer: None,
        content: &data,
        distro: None,
    };
    assert!(GoBinary.required_by_magic(&data[..16]));
    let pkgs = GoBinary.extract(&input).unwrap();
    let info = read_build_info(&data).unwrap().unwrap();
    assert_eq!(info.go_version, toolchain);
    let stdlib = pkgs.iter().find(|p| p.name == "stdlib").unwrap();
    assert_eq!(
        format!("go{}", stdlib.version).trim_end_matches(".0"),
        toolchain.trim_end_matches(".0")
    );
    for (path, version) in mods.iter().filter(|(_, v)| v.starts_with('v')) {
        let p = pkgs
            .iter()
            .find(|p| &p.name == path)
            .unwrap_or_else(|| panic!("{path} missing"));
        assert_eq!(format!("v{}", p.version), *version);
        assert_eq!(p.ecosystem, Ecosystem::Go);
    }
    assert_eq!(
        pkgs.len(),
        1 + mods.iter().filter(|(_, v)| v.starts_with('v')).count()
    );
}

/// The Go toolchain's own gofmt (found through `go env GOROOT`).
#[test]
fn gofmt_on_this_machine() {
    let goroot = Command::new("go").args(["env", "GOROOT"]).output();
    let gofmt = match goroot {
        Ok(o) if o.status.success() => {
            Path::new(String::from_utf8_lossy(&o.stdout).trim()).join("bin/gofmt")
        }
        other => {
            return portcullis_test_support::skip(format_args!("go: {other:?}"));
        }
    };
    check_against_go(&gofmt);
}

/// Builds a program depending on golang.org/x/text v0.3.6 (from the Go module proxy, or the
/// local module cache).
#[test]
fn go_binary_with_a_dependency() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("go.mod"),
        "module example.com/hello\n\ngo 1.21\n\nrequire golang.org/x/text v0.3.6\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() { fmt.Println(language.English) }\n",
    )
    .unwrap();
    let built = Command::new("go")
        .args(["build", "-o", "hello", "."])
        .current_dir(dir.path())
        .env("GOFLAGS", "-mod=mod")
        .env("CGO_ENABLED", "0")
        .output();
    match built {
        Ok(o) if o.status.success() => {}
        other => {
            return portcullis_test_support::skip(format_args!(
                "a Go build with golang.org/x/text: {other:?}"
            ));
        }
    }
    let bin = dir.path().join("hello");
    check_against_go(&bin);
    let data = std::fs::read(&bin).unwrap();
    let pkgs = GoBinary
        .extract(&ExtractInput {
            path: "/app/hello",
            layer: None,
            content: &data,
            distro: None,
        })
        .unwrap();
    let text = pkgs.iter().find(|p| p.name == "golang.org/x/text").unwrap();
    assert_eq!(
        (text.version.as_str(), text.purl.as_str()),
        ("0.3.6", "pkg:golang/golang.org/x/text@v0.3.6")
    );
    assert!(
        !pkgs.iter().any(|p| p.name == "example.com/hello"),
        "(devel) main module is not reported"
    );
}

/// A minimal little-endian ELF64 executable with the given (name, address, data) sections.
fn elf64(sections: &[(&str, u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0u8; 64];
    let mut placed = Vec::new();
    for (_, _, data) in sections {
        out.resize(out.len().next_multiple_of(16), 0);
        placed.push(out.len() as u64);
        out.extend_from_slice(data);
    }
    let mut shstrtab = vec![0u8];
    let mut name_offsets = Vec::new();
    for (name, _, _) in sections {
        name_offsets.push(shstrtab.len() as u32);
        shstrtab.extend_from_slice(name.as_bytes());
        shstrtab.push(0);
    }
    let shstrtab_name = shstrtab.len() as u32;
    shstrtab.extend_from_slice(b".shstrtab\0");
    let shstrtab_off = out.len() as u64;
    out.extend_from_slice(&shstrtab);
    out.resize(out.len().next_multiple_of(8), 0);
    let shoff = out.len() as u64;
    let header =
        |out: &mut Vec<u8>, name: u32, ty: u32, flags: u64, addr: u64, off: u64, size: u64| {
            out.extend_from_slice(&name.to_le_bytes());
            out.extend_from_slice(&ty.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&addr.to_le_bytes());
            out.extend_from_slice(&off.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&16u64.to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes());
        };
    header(&mut out, 0, 0, 0, 0, 0, 0);
    for (i, (_, addr, data)) in sections.iter().enumerate() {
        header(
            &mut out,
            name_offsets[i],
            1,
            2,
            *addr,
            placed[i],
            data.len() as u64,
        );
    }
    header(
        &mut out,
        shstrtab_name,
        3,
        0,
        0,
        shstrtab_off,
        shstrtab.len() as u64,
    );
    let shnum = sections.len() as u16 + 2;
    let mut h = Vec::new();
    h.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    h.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    h.extend_from_slice(&62u16.to_le_bytes()); // x86-64
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes()); // entry
    h.extend_from_slice(&0u64.to_le_bytes()); // phoff
    h.extend_from_slice(&shoff.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&64u16.to_le_bytes());
    h.extend_from_slice(&56u16.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&64u16.to_le_bytes());
    h.extend_from_slice(&shnum.to_le_bytes());
    h.extend_from_slice(&(shnum - 1).to_le_bytes());
    out[..64].copy_from_slice(&h);
    out
}

/// Go before 1.18: the header points at Go string headers elsewhere in memory.
#[test]
fn go_pointer_format_build_info() {
    let modinfo_text = "path\texample.com/old\nmod\texample.com/old\tv1.2.3\th1:a\ndep\tgithub.com/gorilla/mux\tv1.7.3\th1:b\n";
    let mut modinfo = vec![0x30u8; 16];
    modinfo.extend_from_slice(modinfo_text.as_bytes());
    modinfo.extend_from_slice(&[0x31u8; 16]);
    let version = b"go1.16.15".to_vec();

    let data_addr = 0x2000u64;
    // .data: [version header][modinfo header][version bytes][modinfo bytes]
    let v_bytes = data_addr + 32;
    let m_bytes = v_bytes + version.len() as u64;
    let mut data = Vec::new();
    for x in [v_bytes, version.len() as u64, m_bytes, modinfo.len() as u64] {
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.extend_from_slice(&version);
    data.extend_from_slice(&modinfo);

    let mut buildinfo = b"\xff Go buildinf:".to_vec();
    buildinfo.extend_from_slice(&[8, 0]);
    buildinfo.extend_from_slice(&data_addr.to_le_bytes());
    buildinfo.extend_from_slice(&(data_addr + 16).to_le_bytes());

    let elf = elf64(&[
        (".go.buildinfo", 0x1000, buildinfo),
        (".data", data_addr, data),
    ]);
    let pkgs = GoBinary
        .extract(&ExtractInput {
            path: "/bin/old",
            layer: None,
            content: &elf,
            distro: None,
        })
        .unwrap();
    let got: Vec<(&str, &str)> = pkgs
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("stdlib", "1.16.15"),
            ("example.com/old", "1.2.3"),
            ("github.com/gorilla/mux", "1.7.3")
        ]
    );
}

#[test]
fn elf_without_build_info_is_not_go() {
    let elf = elf64(&[
        (".text", 0x1000, vec![0x90; 64]),
        (".data", 0x2000, vec![0; 64]),
    ]);
    let input = ExtractInput {
        path: "/usr/lib/libx.so",
        layer: None,
        content: &elf,
        distro: None,
    };
    assert!(GoBinary.extract(&input).unwrap().is_empty());
    assert!(CargoAuditable.extract(&input).unwrap().is_empty());
}

#[test]
fn cargo_auditable_section() {
    let json = br#"{"packages":[
        {"name":"myapp","version":"0.1.0","source":"local","dependencies":[1,2],"root":true},
        {"name":"serde","version":"1.0.190","source":"crates.io"},
        {"name":"cc","version":"1.0.83","source":"crates.io","kind":"build"},
        {"name":"forked","version":"0.2.0","source":"git"}
    ]}"#;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(json).unwrap();
    let elf = elf64(&[(".dep-v0", 0x3000, z.finish().unwrap())]);
    assert!(CargoAuditable.required_by_magic(&elf[..16]));
    let pkgs = CargoAuditable
        .extract(&ExtractInput {
            path: "/usr/bin/myapp",
            layer: None,
            content: &elf,
            distro: None,
        })
        .unwrap();
    let got: Vec<(&str, &str, &str)> = pkgs
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.purl.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("serde", "1.0.190", "pkg:cargo/serde@1.0.190"),
            ("forked", "0.2.0", "pkg:cargo/forked@0.2.0")
        ]
    );

    let broken = elf64(&[(".dep-v0", 0x3000, b"not zlib".to_vec())]);
    let err = CargoAuditable
        .extract(&ExtractInput {
            path: "/usr/bin/broken",
            layer: None,
            content: &broken,
            distro: None,
        })
        .unwrap_err();
    assert!(
        err.to_string().starts_with("/usr/bin/broken: invalid zlib"),
        "{err}"
    );
}
