//! Go binaries: the build information the Go linker embeds (what `go version -m` prints).
//!
//! The linker writes a 32-byte header starting with `\xff Go buildinf:` at a 16-byte aligned
//! spot, in ELF the `.go.buildinfo` section. Byte 14 is the pointer size, byte 15 flags:
//! with bit 2 set (Go 1.18 and later) the toolchain version and module info follow the
//! header inline as varint-length-prefixed strings; otherwise (older Go) the header holds two
//! pointers to Go string headers `(data pointer, length)` in the binary's memory image, in
//! the byte order of bit 1. The module info is framed by 16 sentinel bytes on each side and
//! is tab-separated lines: `path`, `mod` (main module), `dep`, and `=>` (a replacement for
//! the line before).
//!
//! Versions are reported as OSV's Go records write them: without the leading `v`
//! (`golang.org/x/text` `0.3.6`), while the purl keeps Go's own spelling (`@v0.3.6`). The
//! standard library is reported as module `stdlib` at the toolchain version (`go1.21.3` →
//! `1.21.3`). The main module is only reported when it has a real version: `(devel)`, what
//! `go build` stamps on a local build, matches nothing. A dependency replaced by a local
//! directory (`=> ../fork`) has no version either and is left out.

use object::{Object, ObjectSection, ObjectSegment, SegmentFlags};
use portcullis_core::{Ecosystem, Package};

use crate::extractor::{ExtractInput, Extractor, Result};
use crate::util::{lang_package, purl};

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER_LEN: usize = 32;
/// Go's own reader searches this much of the data segment when there is no section.
const SEGMENT_SEARCH: usize = 64 * 1024;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
/// Module info larger than this is not something the Go linker wrote.
const MAX_STRING: u64 = 16 << 20;

/// Modules compiled into Go executables.
#[derive(Debug, Default)]
pub struct GoBinary;

impl Extractor for GoBinary {
    fn name(&self) -> &'static str {
        "go/binary"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, _path: &str) -> bool {
        false
    }

    fn required_by_magic(&self, head: &[u8]) -> bool {
        is_executable(head)
    }

    fn extract(&self, input: &ExtractInput<'_>) -> Result<Vec<Package>> {
        let Some(info) = read_build_info(input.content)
            .map_err(|e| input.malformed(None, format!("Go build info: {e}")))?
        else {
            return Ok(Vec::new());
        };
        Ok(packages(input, self.name(), &info))
    }
}

/// ELF, thin Mach-O or PE. (The fat Mach-O magic is also Java's class file magic.)
pub(crate) fn is_executable(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
        || head.starts_with(b"MZ")
        || [
            [0xfe, 0xed, 0xfa, 0xce],
            [0xfe, 0xed, 0xfa, 0xcf],
            [0xce, 0xfa, 0xed, 0xfe],
            [0xcf, 0xfa, 0xed, 0xfe],
        ]
        .iter()
        .any(|m| head.starts_with(m))
}

/// What the Go linker recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// Toolchain, e.g. `go1.21.3`.
    pub go_version: String,
    /// The main package's import path (`path` line).
    pub path: Option<String>,
    /// The main module, `None` for binaries built outside module mode.
    pub main: Option<Module>,
    /// Dependencies in the order listed, replacements applied.
    pub deps: Vec<Module>,
}

/// A module line, after any `=>` replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Module path.
    pub path: String,
    /// Version as Go wrote it (`v0.3.6`, `(devel)`); empty for a local replacement.
    pub version: String,
}

/// Finds and decodes the build info of a Go executable; `Ok(None)` when it is not one.
pub fn read_build_info(data: &[u8]) -> Result<Option<BuildInfo>, String> {
    let elf = if data.starts_with(b"\x7fELF") {
        object::File::parse(data).ok()
    } else {
        None
    };
    let found = match &elf {
        Some(file) => elf_header(file),
        // Mach-O and PE (or an ELF object can't make sense of): scan. Only the inline
        // format can be decoded without the section table.
        None => find_magic(data, 1).map(|i| &data[i..]),
    };
    let Some(header) = found else { return Ok(None) };
    if header.len() < HEADER_LEN {
        return Err("header truncated".into());
    }
    let ptr_size = header[14] as usize;
    let flags = header[15];
    let (version, modinfo) = if flags & 2 != 0 {
        let mut rest = &header[HEADER_LEN..];
        let v = varint_string(&mut rest).ok_or("inline version string truncated")?;
        let m = varint_string(&mut rest).ok_or("inline module info truncated")?;
        (v.to_vec(), m.to_vec())
    } else {
        let file = elf
            .as_ref()
            .ok_or("pointer-format build info outside ELF is not supported")?;
        if ptr_size != 4 && ptr_size != 8 {
            return Err(format!("pointer size {ptr_size}"));
        }
        let big_endian = flags & 1 != 0;
        let read_ptr = |b: &[u8]| -> u64 {
            let mut v = 0u64;
            for i in 0..ptr_size {
                let byte = u64::from(b[if big_endian { i } else { ptr_size - 1 - i }]);
                v = (v << 8) | byte;
            }
            v
        };
        let read_string = |addr: u64| -> Result<Vec<u8>, String> {
            let hdr = read_mem(file, addr, 2 * ptr_size as u64)
                .ok_or("string header outside the image")?;
            let (data_addr, len) = (read_ptr(hdr), read_ptr(&hdr[ptr_size..]));
            if len > MAX_STRING {
                return Err(format!("string of {len} bytes"));
            }
            Ok(read_mem(file, data_addr, len)
                .ok_or("string data outside the image")?
                .to_vec())
        };
        let v = read_string(read_ptr(&header[16..]))?;
        let m = read_string(read_ptr(&header[16 + ptr_size..]))?;
        (v, m)
    };
    let go_version = String::from_utf8_lossy(&version).into_owned();
    if go_version.is_empty() {
        return Ok(None);
    }
    // Strip the sentinels; anything else means there is no module info.
    let modinfo = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        String::from_utf8_lossy(&modinfo[16..modinfo.len() - 16]).into_owned()
    } else {
        String::new()
    };
    Ok(Some(parse_modinfo(go_version, &modinfo)))
}

/// The header in an ELF: in `.go.buildinfo`, else in the first data segment.
fn elf_header<'d>(file: &object::File<'d>) -> Option<&'d [u8]> {
    if let Some(sec) = file.section_by_name(".go.buildinfo") {
        let data = sec.data().ok()?;
        return find_magic(data, 16).map(|i| &data[i..]);
    }
    if file.sections().next().is_some() && file.section_by_name(".text").is_some() {
        // A linked executable with a section table but no build info section: not Go.
        return None;
    }
    let seg = file.segments().find(
        |s| matches!(s.flags(), SegmentFlags::Elf { p_flags } if p_flags & (PF_X | PF_W) == PF_W),
    )?;
    let data = seg.data().ok()?;
    let data = &data[..data.len().min(SEGMENT_SEARCH)];
    find_magic(data, 16).map(|i| &data[i..])
}

fn find_magic(data: &[u8], align: usize) -> Option<usize> {
    let mut i = 0;
    while i + MAGIC.len() <= data.len() {
        let next = data[i..].iter().position(|&b| b == MAGIC[0])? + i;
        if next % align == 0 && data[next..].starts_with(MAGIC) {
            return Some(next);
        }
        i = next + 1;
    }
    None
}

fn read_mem<'d>(file: &object::File<'d>, addr: u64, size: u64) -> Option<&'d [u8]> {
    file.sections()
        .find_map(|s| s.data_range(addr, size).ok().flatten())
        .or_else(|| {
            file.segments()
                .find_map(|s| s.data_range(addr, size).ok().flatten())
        })
}

fn varint_string<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut len: u64 = 0;
    let mut shift = 0;
    let mut i = 0;
    loop {
        let byte = *b.get(i)?;
        i += 1;
        len |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    let len = usize::try_from(len).ok()?;
    let s = b.get(i..i.checked_add(len)?)?;
    *b = &b[i + len..];
    Some(s)
}

/// Parses the module info text.
pub fn parse_modinfo(go_version: String, text: &str) -> BuildInfo {
    enum Last {
        None,
        Main,
        Dep(usize),
    }
    let mut info = BuildInfo {
        go_version,
        path: None,
        main: None,
        deps: Vec::new(),
    };
    let mut last = Last::None;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let module = || Module {
            path: f.get(1).copied().unwrap_or("").to_owned(),
            version: f.get(2).copied().unwrap_or("").to_owned(),
        };
        match f[0] {
            "path" => info.path = f.get(1).map(|s| (*s).to_owned()),
            "mod" => {
                info.main = Some(module());
                last = Last::Main;
            }
            "dep" => {
                info.deps.push(module());
                last = Last::Dep(info.deps.len() - 1);
            }
            "=>" => {
                let target = match last {
                    Last::Main => info.main.as_mut(),
                    Last::Dep(i) => info.deps.get_mut(i),
                    Last::None => None,
                };
                if let Some(m) = target {
                    *m = module();
                }
                last = Last::None;
            }
            _ => {}
        }
    }
    info
}

/// `go1.21.3` → `1.21.3`, `go1.21` → `1.21.0`, `go1.21rc2` → `1.21.0-rc.2`; `None` for
/// development toolchains.
pub fn toolchain_semver(go_version: &str) -> Option<String> {
    let v = go_version.split_whitespace().next()?.strip_prefix("go")?;
    let num_end = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, pre) = v.split_at(num_end);
    let parts: Vec<&str> = num.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
        return None;
    }
    let mut out = parts.join(".");
    if parts.len() == 2 {
        out.push_str(".0");
    } else if parts.len() == 1 {
        out.push_str(".0.0");
    }
    if !pre.is_empty() {
        let digits = pre.find(|c: char| c.is_ascii_digit()).unwrap_or(pre.len());
        let (label, n) = pre.split_at(digits);
        if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        out.push('-');
        out.push_str(label);
        if !n.is_empty() {
            out.push('.');
            out.push_str(n);
        }
    }
    Some(out)
}

fn packages(input: &ExtractInput<'_>, found_by: &str, info: &BuildInfo) -> Vec<Package> {
    let mut out = Vec::new();
    let go_package = |path: &str, go_version: &str, version: &str| {
        let (ns, name) = path.rsplit_once('/').unwrap_or(("", path));
        let ns: Vec<&str> = ns.split('/').collect();
        let purl = purl("golang", &ns, name, go_version, &[]);
        lang_package(
            input,
            found_by,
            Ecosystem::Go,
            path.to_owned(),
            version.to_owned(),
            purl,
        )
    };
    if let Some(v) = toolchain_semver(&info.go_version) {
        out.push(go_package("stdlib", &format!("v{v}"), &v));
    }
    let main = info.main.iter().filter(|m| m.version != "(devel)");
    for m in main.chain(&info.deps) {
        if m.path.is_empty() || m.version.is_empty() {
            continue;
        }
        out.push(go_package(
            &m.path,
            &m.version,
            m.version.strip_prefix('v').unwrap_or(&m.version),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolchain_versions() {
        assert_eq!(toolchain_semver("go1.21.3").as_deref(), Some("1.21.3"));
        assert_eq!(toolchain_semver("go1.20").as_deref(), Some("1.20.0"));
        assert_eq!(
            toolchain_semver("go1.21rc2").as_deref(),
            Some("1.21.0-rc.2")
        );
        assert_eq!(
            toolchain_semver("go1.22.1 X:boringcrypto").as_deref(),
            Some("1.22.1")
        );
        assert_eq!(toolchain_semver("devel go1.23-abcdef"), None);
    }

    #[test]
    fn replacements_apply_to_the_previous_line() {
        let text = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n\
                    dep\tgolang.org/x/text\tv0.3.6\th1:x\n=>\tgolang.org/x/text\tv0.3.7\th1:y\n\
                    dep\texample.com/local\tv1.0.0\th1:z\n=>\t../local\t\t\n\
                    dep\tgithub.com/pkg/errors\tv0.9.1\th1:w\nbuild\t-compiler=gc\n";
        let info = parse_modinfo("go1.21.3".into(), text);
        assert_eq!(info.path.as_deref(), Some("example.com/app"));
        assert_eq!(
            info.deps[0],
            Module {
                path: "golang.org/x/text".into(),
                version: "v0.3.7".into()
            }
        );
        assert_eq!(info.deps[1].version, "");
        let input = ExtractInput {
            path: "/app",
            layer: None,
            content: b"",
            distro: None,
        };
        let pkgs = packages(&input, "go/binary", &info);
        let got: Vec<(&str, &str, &str)> = pkgs
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.purl.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("stdlib", "1.21.3", "pkg:golang/stdlib@v1.21.3"),
                (
                    "golang.org/x/text",
                    "0.3.7",
                    "pkg:golang/golang.org/x/text@v0.3.7"
                ),
                (
                    "github.com/pkg/errors",
                    "0.9.1",
                    "pkg:golang/github.com/pkg/errors@v0.9.1"
                ),
            ]
        );
    }

    #[test]
    fn magic_search_respects_alignment() {
        let mut data = vec![0u8; 64];
        data[5..5 + MAGIC.len()].copy_from_slice(MAGIC);
        assert_eq!(find_magic(&data, 16), None);
        assert_eq!(find_magic(&data, 1), Some(5));
        data[32..32 + MAGIC.len()].copy_from_slice(MAGIC);
        assert_eq!(find_magic(&data, 16), Some(32));
    }

    #[test]
    fn truncated_varints_are_errors_not_panics() {
        let mut h = MAGIC.to_vec();
        h.extend_from_slice(&[8, 2]);
        h.resize(HEADER_LEN, 0);
        h.push(0x80);
        let mut data = vec![b'M', b'Z'];
        data.resize(16, 0);
        data.extend_from_slice(&h);
        assert!(read_build_info(&data).is_err());
    }
}
