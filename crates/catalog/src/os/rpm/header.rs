//! The rpm header blob as the rpm database stores it: no lead and no header magic, just
//! `il` (index entry count) and `dl` (data length) as big-endian u32, `il` 16-byte index
//! entries `(tag, type, offset, count)`, then `dl` bytes of data the offsets point into.

/// Tags this crate reads.
pub(crate) mod tag {
    pub(crate) const NAME: u32 = 1000;
    pub(crate) const VERSION: u32 = 1001;
    pub(crate) const RELEASE: u32 = 1002;
    pub(crate) const EPOCH: u32 = 1003;
    pub(crate) const LICENSE: u32 = 1014;
    pub(crate) const ARCH: u32 = 1022;
    pub(crate) const SOURCERPM: u32 = 1044;
    pub(crate) const MODULARITYLABEL: u32 = 5096;
}

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// rpm refuses headers with more tags than this (`HEADER_TAGS_MAX`); so do we.
const MAX_TAGS: usize = 0xffff;

/// Why a header blob could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeaderError {
    /// The blob is shorter than its own counts say.
    #[error("header truncated: {0}")]
    Truncated(&'static str),
    /// The index entry count is implausible.
    #[error("header has {0} index entries (more than rpm allows)")]
    TooManyTags(usize),
    /// A tag's value points outside the data area or is not terminated.
    #[error("tag {tag}: {what}")]
    BadValue {
        /// The tag.
        tag: u32,
        /// What is wrong.
        what: &'static str,
    },
}

/// The fields of one installed package.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RpmInfo {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) release: String,
    pub(crate) epoch: Option<i32>,
    pub(crate) arch: Option<String>,
    pub(crate) source_rpm: Option<String>,
    pub(crate) license: Option<String>,
    pub(crate) modularity_label: Option<String>,
}

struct Entry {
    tag: u32,
    ty: u32,
    offset: usize,
}

/// Parses one header blob.
pub(crate) fn parse(blob: &[u8]) -> Result<RpmInfo, HeaderError> {
    let be32 = |b: &[u8], at: usize| -> Option<u32> {
        b.get(at..at + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    };
    let il = be32(blob, 0).ok_or(HeaderError::Truncated("no index count"))? as usize;
    let dl = be32(blob, 4).ok_or(HeaderError::Truncated("no data length"))? as usize;
    if il > MAX_TAGS {
        return Err(HeaderError::TooManyTags(il));
    }
    let index_end = 8 + il * 16;
    let data = blob
        .get(index_end..index_end.saturating_add(dl))
        .ok_or(HeaderError::Truncated("data area shorter than declared"))?;
    let mut entries = Vec::with_capacity(il);
    for i in 0..il {
        let at = 8 + i * 16;
        let (Some(tag), Some(ty), Some(offset)) =
            (be32(blob, at), be32(blob, at + 4), be32(blob, at + 8))
        else {
            return Err(HeaderError::Truncated("index entry"));
        };
        entries.push(Entry {
            tag,
            ty,
            offset: offset as usize,
        });
    }

    let string = |tag: u32| -> Result<Option<String>, HeaderError> {
        let Some(e) = entries.iter().find(|e| e.tag == tag) else {
            return Ok(None);
        };
        if !matches!(e.ty, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
            return Err(HeaderError::BadValue {
                tag,
                what: "not a string",
            });
        }
        let rest = data.get(e.offset..).ok_or(HeaderError::BadValue {
            tag,
            what: "offset outside data",
        })?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(HeaderError::BadValue {
                tag,
                what: "unterminated string",
            })?;
        Ok(Some(String::from_utf8_lossy(&rest[..end]).into_owned()))
    };
    let epoch = match entries.iter().find(|e| e.tag == tag::EPOCH) {
        None => None,
        Some(e) if e.ty == TYPE_INT32 => {
            let v = be32(data, e.offset).ok_or(HeaderError::BadValue {
                tag: tag::EPOCH,
                what: "offset outside data",
            })?;
            Some(v as i32)
        }
        Some(_) => {
            return Err(HeaderError::BadValue {
                tag: tag::EPOCH,
                what: "not an INT32",
            });
        }
    };
    Ok(RpmInfo {
        name: string(tag::NAME)?.unwrap_or_default(),
        version: string(tag::VERSION)?.unwrap_or_default(),
        release: string(tag::RELEASE)?.unwrap_or_default(),
        epoch,
        arch: string(tag::ARCH)?,
        source_rpm: string(tag::SOURCERPM)?,
        license: string(tag::LICENSE)?,
        modularity_label: string(tag::MODULARITYLABEL)?,
    })
}

/// Test helper: encodes a header blob from `(tag, value)` pairs (strings and INT32s).
#[cfg(test)]
pub(crate) fn encode(fields: &[(u32, HeaderValue<'_>)]) -> Vec<u8> {
    let mut index = Vec::new();
    let mut data = Vec::new();
    for (tag, v) in fields {
        let (ty, bytes): (u32, Vec<u8>) = match v {
            HeaderValue::Str(s) => (TYPE_STRING, [s.as_bytes(), &[0]].concat()),
            HeaderValue::Int(i) => {
                while data.len() % 4 != 0 {
                    data.push(0);
                }
                (TYPE_INT32, i.to_be_bytes().to_vec())
            }
        };
        index.extend_from_slice(&tag.to_be_bytes());
        index.extend_from_slice(&ty.to_be_bytes());
        index.extend_from_slice(&(data.len() as u32).to_be_bytes());
        index.extend_from_slice(&1u32.to_be_bytes());
        data.extend_from_slice(&bytes);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(fields.len() as u32).to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(&index);
    out.extend_from_slice(&data);
    out
}

/// A value for [`encode`].
#[cfg(test)]
pub(crate) enum HeaderValue<'a> {
    Str(&'a str),
    Int(i32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let blob = encode(&[
            (tag::NAME, HeaderValue::Str("bash")),
            (tag::VERSION, HeaderValue::Str("5.1.8")),
            (tag::RELEASE, HeaderValue::Str("6.el9")),
            (tag::EPOCH, HeaderValue::Int(2)),
            (tag::ARCH, HeaderValue::Str("x86_64")),
        ]);
        let info = parse(&blob).unwrap();
        assert_eq!(info.name, "bash");
        assert_eq!(info.release, "6.el9");
        assert_eq!(info.epoch, Some(2));
        assert_eq!(info.source_rpm, None);
    }

    #[test]
    fn truncated_and_out_of_range() {
        assert!(matches!(parse(&[0, 0]), Err(HeaderError::Truncated(_))));
        let mut blob = encode(&[(tag::NAME, HeaderValue::Str("bash"))]);
        blob.truncate(blob.len() - 2);
        assert!(matches!(parse(&blob), Err(HeaderError::Truncated(_))));
        // Point NAME's offset past the data.
        let mut blob = encode(&[(tag::NAME, HeaderValue::Str("bash"))]);
        blob[16..20].copy_from_slice(&100u32.to_be_bytes());
        assert!(matches!(
            parse(&blob),
            Err(HeaderError::BadValue { tag: 1000, .. })
        ));
    }
}
