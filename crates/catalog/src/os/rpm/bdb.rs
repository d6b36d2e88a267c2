//! Just enough of the Berkeley DB hash access method to pull the values out of rpm's legacy
//! `Packages` database, read-only and from memory.
//!
//! Layout used (all integers in the database's byte order, told by the magic):
//! page 0 is the hash metadata page (magic `0x061561` at byte 12, page size at 20, last page
//! number at 32); every other page starts with a 26-byte header (`next_pgno` at 16, `entries`
//! at 20, `hf_offset` at 22, `type` at 25) followed by `entries` u16 offsets of its items.
//! Hash pages (type 2 or 13) hold key/value items alternately; rpm's header blobs are too big
//! to sit on the page, so a value item is an off-page reference (item type 3: page number at
//! +4, total length at +8) to a chain of overflow pages (type 7), each carrying `hf_offset`
//! bytes of data after its header.

const HASH_MAGIC: u32 = 0x0006_1561;
const PAGE_HEADER: usize = 26;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASH: u8 = 13;
const H_OFFPAGE: u8 = 3;

/// Why the database could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BdbError {
    /// The metadata page is missing or not a hash database's.
    #[error("not a Berkeley DB hash database ({0})")]
    NotHashDb(&'static str),
    /// The database is encrypted; rpm never does this.
    #[error("encrypted Berkeley DB is not supported")]
    Encrypted,
    /// A page or item points somewhere impossible.
    #[error("page {page}: {what}")]
    Corrupt {
        /// The page where it was noticed.
        page: u32,
        /// What is wrong.
        what: &'static str,
    },
}

#[derive(Clone, Copy)]
struct Order {
    big_endian: bool,
}

impl Order {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let s = b.get(at..at + 2)?;
        Some(if self.big_endian {
            u16::from_be_bytes([s[0], s[1]])
        } else {
            u16::from_le_bytes([s[0], s[1]])
        })
    }

    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let s = b.get(at..at + 4)?;
        let a = [s[0], s[1], s[2], s[3]];
        Some(if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }
}

/// Every off-page value of the hash database, in page order.
pub(crate) fn values(db: &[u8]) -> Result<Vec<Vec<u8>>, BdbError> {
    let magic_bytes = db
        .get(12..16)
        .ok_or(BdbError::NotHashDb("shorter than a metadata page"))?;
    let order = if u32::from_le_bytes([
        magic_bytes[0],
        magic_bytes[1],
        magic_bytes[2],
        magic_bytes[3],
    ]) == HASH_MAGIC
    {
        Order { big_endian: false }
    } else if u32::from_be_bytes([
        magic_bytes[0],
        magic_bytes[1],
        magic_bytes[2],
        magic_bytes[3],
    ]) == HASH_MAGIC
    {
        Order { big_endian: true }
    } else {
        return Err(BdbError::NotHashDb("bad magic"));
    };
    let page_size = order
        .u32(db, 20)
        .ok_or(BdbError::NotHashDb("no page size"))? as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(BdbError::NotHashDb("implausible page size"));
    }
    if db.get(24).copied().unwrap_or(0) != 0 {
        return Err(BdbError::Encrypted);
    }
    let pages_in_file = db.len() / page_size;
    let last = order
        .u32(db, 32)
        .ok_or(BdbError::NotHashDb("no last page number"))? as usize;
    let last = last.min(pages_in_file.saturating_sub(1));
    let page = |n: usize| db.get(n * page_size..(n + 1) * page_size);

    let mut out = Vec::new();
    for n in 1..=last {
        let Some(p) = page(n) else { break };
        let ty = p[25];
        if ty != P_HASH && ty != P_HASH_UNSORTED {
            continue;
        }
        let entries = order.u16(p, 20).unwrap_or(0) as usize;
        if PAGE_HEADER + entries * 2 > page_size {
            return Err(BdbError::Corrupt {
                page: n as u32,
                what: "more entries than fit on the page",
            });
        }
        // Items alternate key, value; values are the odd ones.
        for i in (1..entries).step_by(2) {
            let off = order.u16(p, PAGE_HEADER + i * 2).unwrap_or(0) as usize;
            let Some(&item_type) = p.get(off) else {
                return Err(BdbError::Corrupt {
                    page: n as u32,
                    what: "item offset outside the page",
                });
            };
            if item_type != H_OFFPAGE {
                continue;
            }
            let (Some(pgno), Some(len)) = (order.u32(p, off + 4), order.u32(p, off + 8)) else {
                return Err(BdbError::Corrupt {
                    page: n as u32,
                    what: "truncated off-page item",
                });
            };
            out.push(overflow_chain(
                db,
                order,
                page_size,
                pgno,
                len as usize,
                pages_in_file,
            )?);
        }
    }
    Ok(out)
}

/// Concatenates the data of the overflow chain starting at `first`.
fn overflow_chain(
    db: &[u8],
    order: Order,
    page_size: usize,
    first: u32,
    len: usize,
    pages_in_file: usize,
) -> Result<Vec<u8>, BdbError> {
    if len > db.len() {
        return Err(BdbError::Corrupt {
            page: first,
            what: "off-page value longer than the file",
        });
    }
    let mut out = Vec::with_capacity(len);
    let mut next = first;
    // A chain can visit each page at most once; more means a cycle.
    for _ in 0..pages_in_file {
        if next == 0 || out.len() >= len {
            break;
        }
        let start = next as usize * page_size;
        let p = db.get(start..start + page_size).ok_or(BdbError::Corrupt {
            page: next,
            what: "overflow page beyond the end of the file",
        })?;
        if p[25] != P_OVERFLOW {
            return Err(BdbError::Corrupt {
                page: next,
                what: "expected an overflow page",
            });
        }
        let here = order.u16(p, 22).unwrap_or(0) as usize;
        let chunk = p
            .get(PAGE_HEADER..PAGE_HEADER + here)
            .ok_or(BdbError::Corrupt {
                page: next,
                what: "overflow length exceeds the page",
            })?;
        out.extend_from_slice(chunk);
        next = order.u32(p, 16).unwrap_or(0);
    }
    if out.len() < len {
        return Err(BdbError::Corrupt {
            page: first,
            what: "overflow chain shorter than the value",
        });
    }
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_bdb() {
        assert!(matches!(values(b"asdf\n"), Err(BdbError::NotHashDb(_))));
        assert!(matches!(
            values(&[0u8; 4096]),
            Err(BdbError::NotHashDb("bad magic"))
        ));
    }

    /// A two-page chain, big-endian, built by hand.
    #[test]
    fn follows_overflow_chain_big_endian() {
        let ps = 512;
        let mut db = vec![0u8; ps * 4];
        db[12..16].copy_from_slice(&HASH_MAGIC.to_be_bytes());
        db[20..24].copy_from_slice(&(ps as u32).to_be_bytes());
        db[32..36].copy_from_slice(&3u32.to_be_bytes());
        // Page 1: hash page with key item and off-page value item.
        let p1 = ps;
        db[p1 + 25] = P_HASH;
        db[p1 + 20..p1 + 22].copy_from_slice(&2u16.to_be_bytes());
        db[p1 + 26..p1 + 28].copy_from_slice(&500u16.to_be_bytes());
        db[p1 + 28..p1 + 30].copy_from_slice(&480u16.to_be_bytes());
        db[p1 + 500] = 1;
        db[p1 + 480] = H_OFFPAGE;
        db[p1 + 484..p1 + 488].copy_from_slice(&2u32.to_be_bytes());
        let value: Vec<u8> = (0..600u32).map(|i| (i % 251) as u8).collect();
        db[p1 + 488..p1 + 492].copy_from_slice(&(value.len() as u32).to_be_bytes());
        // Pages 2 and 3: overflow.
        let first = ps - PAGE_HEADER;
        for (page, chunk, next) in [(2usize, &value[..first], 3u32), (3, &value[first..], 0)] {
            let o = page * ps;
            db[o + 25] = P_OVERFLOW;
            db[o + 16..o + 20].copy_from_slice(&next.to_be_bytes());
            db[o + 22..o + 24].copy_from_slice(&(chunk.len() as u16).to_be_bytes());
            db[o + 26..o + 26 + chunk.len()].copy_from_slice(chunk);
        }
        assert_eq!(values(&db).unwrap(), vec![value]);
        // A chain looping on itself is cut off after as many pages as the file has, and the
        // short value is an error, not a hang.
        db[3 * ps + 16..3 * ps + 20].copy_from_slice(&3u32.to_be_bytes());
        db[3 * ps + 22..3 * ps + 24].copy_from_slice(&1u16.to_be_bytes());
        assert!(matches!(values(&db), Err(BdbError::Corrupt { .. })));
    }
}
