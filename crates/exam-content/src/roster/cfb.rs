//! Just enough of the Compound File Binary format ([MS-CFB]) for `.xls`: take one stream out of
//! a compound file, following every chain with bounds and loop checks, and write a new compound
//! file that holds that one stream and nothing else.
//!
//! calamine's own compound-file reader trusts the file (a sector chain that loops grows without
//! end; a sector number past the allocation table panics), so it only ever reads a file written
//! by [`write_single`].
//!
//! [MS-CFB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cfb/

const SIGNATURE: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const HEADER_BYTES: usize = 512;
/// The sector size this module writes (version 3).
const SECTOR_BYTES: usize = 512;
const MINI_SECTOR_BYTES: usize = 64;
/// Streams shorter than this live in the mini stream (calamine uses the same cut-off).
const MINI_CUTOFF_BYTES: usize = 4096;
const DIR_ENTRY_BYTES: usize = 128;
/// Allocation table entries per 512-byte sector.
const IDS_PER_SECTOR: usize = SECTOR_BYTES / 4;
/// Allocation-table sector numbers the header holds; more go into DIFAT sectors.
const HEADER_DIFAT_IDS: usize = 109;

const MAXREGSECT: u32 = 0xFFFF_FFFA;
const DIFSECT: u32 = 0xFFFF_FFFC;
const FATSECT: u32 = 0xFFFF_FFFD;
const ENDOFCHAIN: u32 = 0xFFFF_FFFE;
const FREESECT: u32 = 0xFFFF_FFFF;
const NOSTREAM: u32 = 0xFFFF_FFFF;

const STREAM_OBJECT: u8 = 2;

/// What is wrong with a compound file, for the clerk's error message.
#[derive(Debug)]
pub(crate) struct CfbFault(pub(crate) String);

fn fault(what: &str) -> CfbFault {
    CfbFault(format!("the compound file is damaged: {what}"))
}

/// Little-endian words read without indexing (`None` past the end); also used by `xls_scan`.
pub(super) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

pub(super) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(s))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(s))
}

struct Sectors<'a> {
    file: &'a [u8],
    size: usize,
    /// Sectors in the file after the header (a short last one counts).
    count: usize,
}

impl<'a> Sectors<'a> {
    fn get(&self, id: u32) -> Result<&'a [u8], CfbFault> {
        let id = id as usize;
        if id >= self.count {
            return Err(fault("a sector number points past the end of the file"));
        }
        let start = id
            .checked_add(1)
            .and_then(|n| n.checked_mul(self.size))
            .ok_or_else(|| fault("a sector number is out of range"))?;
        let end = start.saturating_add(self.size).min(self.file.len());
        self.file
            .get(start..end)
            .ok_or_else(|| fault("a sector number points past the end of the file"))
    }

    /// The bytes of the chain from `start`: at most `want` if given (and then exactly `want`),
    /// else up to the end of the chain. Every sector is used once at most.
    fn chain(&self, fat: &[u32], start: u32, want: Option<usize>) -> Result<Vec<u8>, CfbFault> {
        let mut out = Vec::new();
        let mut seen = vec![false; self.count];
        let mut id = start;
        loop {
            if want.is_some_and(|w| out.len() >= w) || id == ENDOFCHAIN {
                break;
            }
            let Some(used) = seen.get_mut(id as usize) else {
                return Err(fault("a sector chain points past the end of the file"));
            };
            if *used {
                return Err(fault("a sector chain runs in a loop"));
            }
            *used = true;
            out.extend_from_slice(self.get(id)?);
            id = *fat
                .get(id as usize)
                .ok_or_else(|| fault("a sector chain leaves the allocation table"))?;
        }
        if let Some(w) = want {
            if out.len() < w {
                return Err(fault("a stream is shorter than its directory entry says"));
            }
            out.truncate(w);
        }
        Ok(out)
    }
}

/// The same walk over the mini stream's 64-byte sectors.
fn mini_chain(
    ministream: &[u8],
    minifat: &[u32],
    start: u32,
    want: usize,
) -> Result<Vec<u8>, CfbFault> {
    let count = ministream.len() / MINI_SECTOR_BYTES;
    let mut out = Vec::with_capacity(want);
    let mut seen = vec![false; count];
    let mut id = start;
    while out.len() < want {
        if id == ENDOFCHAIN {
            return Err(fault("a stream is shorter than its directory entry says"));
        }
        let Some(used) = seen.get_mut(id as usize) else {
            return Err(fault("a mini sector chain points past the mini stream"));
        };
        if *used {
            return Err(fault("a mini sector chain runs in a loop"));
        }
        *used = true;
        let from = id as usize * MINI_SECTOR_BYTES;
        let sector = ministream
            .get(from..from + MINI_SECTOR_BYTES)
            .ok_or_else(|| fault("a mini sector chain points past the mini stream"))?;
        out.extend_from_slice(sector);
        id = *minifat
            .get(id as usize)
            .ok_or_else(|| fault("a mini sector chain leaves the allocation table"))?;
    }
    out.truncate(want);
    Ok(out)
}

fn ids(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .filter_map(|c| <[u8; 4]>::try_from(c).ok())
        .map(u32::from_le_bytes)
}

struct Entry {
    name: String,
    kind: u8,
    start: u32,
    size: u64,
}

fn entry(raw: &[u8], sector_size: usize) -> Option<Entry> {
    let name_bytes = usize::from(u16_at(raw, 64)?).min(64);
    let units: Vec<u16> = raw
        .get(..name_bytes)?
        .chunks_exact(2)
        .filter_map(|c| <[u8; 2]>::try_from(c).ok())
        .map(u16::from_le_bytes)
        .take_while(|u| *u != 0)
        .collect();
    let size = if sector_size == SECTOR_BYTES {
        u64::from(u32_at(raw, 120)?)
    } else {
        u64_at(raw, 120)?
    };
    Some(Entry {
        name: String::from_utf16_lossy(&units),
        kind: *raw.get(66)?,
        start: u32_at(raw, 116)?,
        size,
    })
}

/// The first stream named one of `names` (ASCII case ignored, earlier names first), checked
/// chain by chain. `Ok(None)` when there is no such stream.
pub(crate) fn read_stream(file: &[u8], names: &[&str]) -> Result<Option<Vec<u8>>, CfbFault> {
    if file.get(..8) != Some(SIGNATURE.as_slice()) || file.len() < HEADER_BYTES {
        return Err(CfbFault(String::from("this is not an Excel 97–2003 file")));
    }
    let header = file.get(..HEADER_BYTES).unwrap_or_default();
    let sector_size = match u16_at(header, 30) {
        Some(9) => 512,
        Some(12) => 4096,
        _ => return Err(fault("the sector size is not 512 or 4096 bytes")),
    };
    if u16_at(header, 32) != Some(6) {
        return Err(fault("the mini sector size is not 64 bytes"));
    }
    let sectors = Sectors {
        file,
        size: sector_size,
        count: (file.len().saturating_sub(sector_size)).div_ceil(sector_size),
    };
    let field = |at| u32_at(header, at).ok_or_else(|| fault("the header is cut short"));

    // The allocation table's sectors: 109 in the header, more in a chain of DIFAT sectors.
    let mut fat_sectors: Vec<u32> = ids(header.get(76..).unwrap_or_default()).collect();
    let mut difat_seen = vec![false; sectors.count];
    let mut next = field(68)?;
    while next <= MAXREGSECT {
        let Some(used) = difat_seen.get_mut(next as usize) else {
            return Err(fault("the DIFAT chain points past the end of the file"));
        };
        if *used {
            return Err(fault("the DIFAT chain runs in a loop"));
        }
        *used = true;
        let sector: Vec<u32> = ids(sectors.get(next)?).collect();
        let Some((last, entries)) = sector.split_last() else {
            break;
        };
        fat_sectors.extend_from_slice(entries);
        next = *last;
    }
    let mut fat = Vec::new();
    let mut fat_seen = vec![false; sectors.count];
    for id in fat_sectors.into_iter().filter(|id| *id <= MAXREGSECT) {
        let Some(used) = fat_seen.get_mut(id as usize) else {
            return Err(fault(
                "the allocation table points past the end of the file",
            ));
        };
        if *used {
            return Err(fault("the allocation table lists one sector twice"));
        }
        *used = true;
        fat.extend(ids(sectors.get(id)?));
    }

    let directory = sectors.chain(&fat, field(48)?, None)?;
    let entries: Vec<Entry> = directory
        .chunks_exact(DIR_ENTRY_BYTES)
        .filter_map(|raw| entry(raw, sector_size))
        .collect();
    let Some(found) = names.iter().find_map(|name| {
        entries
            .iter()
            .find(|e| e.kind == STREAM_OBJECT && e.name.eq_ignore_ascii_case(name))
    }) else {
        return Ok(None);
    };
    let size = usize::try_from(found.size)
        .ok()
        .filter(|s| *s <= file.len())
        .ok_or_else(|| fault("a stream claims to be larger than the file"))?;
    if size >= MINI_CUTOFF_BYTES {
        return sectors.chain(&fat, found.start, Some(size)).map(Some);
    }
    let root = entries
        .first()
        .ok_or_else(|| fault("the directory is empty"))?;
    let root_size = usize::try_from(root.size)
        .ok()
        .filter(|s| *s <= file.len())
        .ok_or_else(|| fault("the mini stream claims to be larger than the file"))?;
    let ministream = sectors.chain(&fat, root.start, Some(root_size))?;
    let minifat: Vec<u32> = ids(&sectors.chain(&fat, field(60)?, None)?).collect();
    mini_chain(&ministream, &minifat, found.start, size).map(Some)
}

fn put_u16(buf: &mut [u8], at: usize, v: u16) {
    if let Some(s) = buf.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    if let Some(s) = buf.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

fn dir_entry(name: &str, kind: u8, child: u32, start: u32, size: u32) -> [u8; DIR_ENTRY_BYTES] {
    let mut e = [0u8; DIR_ENTRY_BYTES];
    let units: Vec<u16> = name.encode_utf16().take(31).collect();
    for (i, u) in units.iter().enumerate() {
        put_u16(&mut e, i * 2, *u);
    }
    if kind != 0 {
        put_u16(&mut e, 64, ((units.len() + 1) * 2) as u16);
        // Black, as a one-node red-black tree must be.
        e[67] = 1;
    }
    e[66] = kind;
    put_u32(&mut e, 68, NOSTREAM);
    put_u32(&mut e, 72, NOSTREAM);
    put_u32(&mut e, 76, child);
    put_u32(&mut e, 116, start);
    put_u32(&mut e, 120, size);
    e
}

/// A version-3 compound file (512-byte sectors) holding `data` as the one stream `name`, in
/// the mini stream when it is shorter than 4096 bytes. `data` must be under 4 GiB (the caller's
/// limits keep it far below).
pub(crate) fn write_single(name: &str, data: &[u8]) -> Vec<u8> {
    let sectors_for = |bytes: usize| bytes.div_ceil(SECTOR_BYTES);
    let mini = data.len() < MINI_CUTOFF_BYTES;
    // The stream's own sectors, or the mini stream's container, then its allocation sector.
    let (body, minifat_sectors) = if mini {
        let mini_sectors = data.len().div_ceil(MINI_SECTOR_BYTES);
        (
            mini_sectors * MINI_SECTOR_BYTES,
            usize::from(mini_sectors > 0),
        )
    } else {
        (data.len(), 0)
    };
    let body_sectors = sectors_for(body);
    // Layout: FAT sectors, DIFAT sectors, one directory sector, the mini FAT, the body.
    let others = 1 + minifat_sectors + body_sectors;
    let (mut fat_sectors, mut difat_sectors) = (1usize, 0usize);
    loop {
        let total = fat_sectors + difat_sectors + others;
        let f = total.div_ceil(IDS_PER_SECTOR);
        let d = f
            .saturating_sub(HEADER_DIFAT_IDS)
            .div_ceil(IDS_PER_SECTOR - 1);
        if (f, d) == (fat_sectors, difat_sectors) {
            break;
        }
        (fat_sectors, difat_sectors) = (f, d);
    }
    let id = |n: usize| n as u32;
    let difat_start = fat_sectors;
    let dir_sector = difat_start + difat_sectors;
    let minifat_sector = dir_sector + 1;
    let body_start = minifat_sector + minifat_sectors;
    let total = body_start + body_sectors;

    let mut fat = vec![FREESECT; fat_sectors * IDS_PER_SECTOR];
    let mut set = |at: usize, v: u32| {
        if let Some(slot) = fat.get_mut(at) {
            *slot = v;
        }
    };
    for n in 0..fat_sectors {
        set(n, FATSECT);
    }
    for n in difat_start..dir_sector {
        set(n, DIFSECT);
    }
    set(dir_sector, ENDOFCHAIN);
    if minifat_sectors > 0 {
        set(minifat_sector, ENDOFCHAIN);
    }
    for n in body_start..total {
        set(
            n,
            if n + 1 == total {
                ENDOFCHAIN
            } else {
                id(n + 1)
            },
        );
    }

    let mut header = vec![0u8; HEADER_BYTES];
    header[..8].copy_from_slice(&SIGNATURE);
    put_u16(&mut header, 24, 0x003E);
    put_u16(&mut header, 26, 3);
    put_u16(&mut header, 28, 0xFFFE);
    put_u16(&mut header, 30, 9);
    put_u16(&mut header, 32, 6);
    put_u32(&mut header, 44, id(fat_sectors));
    put_u32(&mut header, 48, id(dir_sector));
    put_u32(&mut header, 56, MINI_CUTOFF_BYTES as u32);
    put_u32(
        &mut header,
        60,
        if minifat_sectors > 0 {
            id(minifat_sector)
        } else {
            ENDOFCHAIN
        },
    );
    put_u32(&mut header, 64, id(minifat_sectors));
    put_u32(
        &mut header,
        68,
        if difat_sectors > 0 {
            id(difat_start)
        } else {
            ENDOFCHAIN
        },
    );
    put_u32(&mut header, 72, id(difat_sectors));
    let fat_ids: Vec<u32> = (0..fat_sectors).map(id).collect();
    for i in 0..HEADER_DIFAT_IDS {
        put_u32(
            &mut header,
            76 + i * 4,
            fat_ids.get(i).copied().unwrap_or(FREESECT),
        );
    }

    let mut out = header;
    out.reserve(total * SECTOR_BYTES);
    for v in &fat {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut rest = fat_ids.iter().skip(HEADER_DIFAT_IDS);
    for n in 0..difat_sectors {
        for _ in 0..IDS_PER_SECTOR - 1 {
            out.extend_from_slice(&rest.next().copied().unwrap_or(FREESECT).to_le_bytes());
        }
        let next = if n + 1 == difat_sectors {
            ENDOFCHAIN
        } else {
            id(difat_start + n + 1)
        };
        out.extend_from_slice(&next.to_le_bytes());
    }
    let size = data.len() as u32;
    let (root_start, root_size, stream_start) = if mini {
        let start = if body_sectors > 0 {
            id(body_start)
        } else {
            ENDOFCHAIN
        };
        let stream_start = if data.is_empty() { ENDOFCHAIN } else { 0 };
        (start, body as u32, stream_start)
    } else {
        (ENDOFCHAIN, 0, id(body_start))
    };
    out.extend_from_slice(&dir_entry("Root Entry", 5, 1, root_start, root_size));
    out.extend_from_slice(&dir_entry(
        name,
        STREAM_OBJECT,
        NOSTREAM,
        stream_start,
        size,
    ));
    out.extend_from_slice(&dir_entry("", 0, NOSTREAM, 0, 0));
    out.extend_from_slice(&dir_entry("", 0, NOSTREAM, 0, 0));
    if minifat_sectors > 0 {
        let mini_sectors = body / MINI_SECTOR_BYTES;
        for n in 0..IDS_PER_SECTOR {
            let v = if n + 1 < mini_sectors {
                id(n + 1)
            } else if n + 1 == mini_sectors {
                ENDOFCHAIN
            } else {
                FREESECT
            };
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out.extend_from_slice(data);
    out.resize(HEADER_BYTES + total * SECTOR_BYTES, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_read_back() {
        for len in [0usize, 1, 63, 64, 65, 4095, 4096, 4097, 70_000, 9_000_000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let file = write_single("Workbook", &data);
            let back = read_stream(&file, &["Workbook"]).ok().flatten();
            assert_eq!(back.as_deref(), Some(data.as_slice()), "{len} bytes");
        }
    }

    #[test]
    fn a_looping_chain_is_a_fault() {
        let mut file = write_single("Workbook", &[7u8; 5000]);
        // The body's first sector points back to itself.
        let fat_at = HEADER_BYTES;
        let body_first = 2usize;
        let at = fat_at + body_first * 4;
        file[at..at + 4].copy_from_slice(&(body_first as u32).to_le_bytes());
        assert!(read_stream(&file, &["Workbook"]).is_err());
    }
}
